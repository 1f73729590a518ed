// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rewind-backup/rewind/pkg/chunk"
)

// fakeDisk is a disk in memory whose bytes are never zero, recording the
// reads it serves. A read that reaches its end returns io.EOF with the
// bytes there are, even a full read when eofAtEnd is set (io.ReaderAt
// allows both). shortBy makes every read return that many bytes too few
// with a nil error; fail makes reads at or after that offset fail.
type fakeDisk struct {
	b        []byte
	eofAtEnd bool
	shortBy  int
	fail     int64
	reads    []Extent
}

var errDiskFailed = errors.New("injected read error")

func newFakeDisk(n int) *fakeDisk {
	d := &fakeDisk{b: make([]byte, n), fail: -1}
	for i := range d.b {
		d.b[i] = byte(i%251) + 1
	}
	return d
}

func (d *fakeDisk) ReadAt(p []byte, off int64) (int, error) {
	d.reads = append(d.reads, Extent{off, int64(len(p))})
	if d.fail >= 0 && off+int64(len(p)) > d.fail {
		return 0, fmt.Errorf("sector at %d: %w", d.fail, errDiskFailed)
	}
	if off >= int64(len(d.b)) {
		return 0, io.EOF
	}
	n := copy(p, d.b[off:])
	if n < len(p) || d.eofAtEnd && off+int64(n) == int64(len(d.b)) {
		return n, io.EOF
	}
	if d.shortBy > 0 {
		return n - d.shortBy, nil
	}
	return n, nil
}

// want is what ReadMasked should return for rng of a: d's bytes where a is
// used, zeros elsewhere; computed byte by byte, not by extents.
func (d *fakeDisk) want(a *Area, rng Extent) []byte {
	out := make([]byte, rng.Len)
	for i := range out {
		pos := rng.Off + int64(i)
		for _, u := range a.Used {
			if pos >= u.Off && pos < u.End() {
				out[i] = d.b[a.Offset+pos]
			}
		}
	}
	return out
}

func TestReadMasked(t *testing.T) {
	const off, length = 4096, 512 << 10
	area := func(used ...Extent) *Area {
		return &Area{Offset: off, Length: length, Used: used, UsedBytes: Size(used)}
	}
	for _, tc := range []struct {
		name    string
		area    *Area
		rng     Extent
		disk    func() *fakeDisk
		reads   []Extent // the requests, as disk offsets (nil: don't check)
		n       int64    // bytes read
		wantErr error    // nil: no error
		errText string   // the error names this
	}{{
		name:  "all used",
		area:  area(Extent{0, length}),
		rng:   Extent{0, 128 << 10},
		reads: []Extent{{off, 128 << 10}},
		n:     128 << 10,
	}, {
		name:  "unused before, between and after; gap under the threshold read over",
		area:  area(Extent{1000, 3000}, Extent{4000 + ReadGap - 1, 500}),
		rng:   Extent{0, 128 << 10},
		reads: []Extent{{off + 1000, 3000 + ReadGap - 1 + 500}},
		n:     3000 + ReadGap - 1 + 500,
	}, {
		name:  "gap at the threshold skipped",
		area:  area(Extent{1000, 3000}, Extent{4000 + ReadGap, 500}),
		rng:   Extent{0, 128 << 10},
		reads: []Extent{{off + 1000, 3000}, {off + 4000 + ReadGap, 500}},
		n:     3500,
	}, {
		name:  "range in the middle of extents",
		area:  area(Extent{0, 70000}, Extent{200000, 100000}),
		rng:   Extent{65536, 200000},
		reads: []Extent{{off + 65536, 70000 - 65536}, {off + 200000, 65536 + 200000 - 200000}},
		n:     70000 - 65536 + 65536,
	}, {
		name:  "no used byte: nothing read",
		area:  area(Extent{0, 10}),
		rng:   Extent{65536, 65536},
		reads: []Extent{},
	}, {
		name:  "full read that reports io.EOF at the disk's end",
		area:  area(Extent{0, length}),
		rng:   Extent{length - 4096, 4096},
		disk:  func() *fakeDisk { d := newFakeDisk(off + length); d.eofAtEnd = true; return d },
		reads: []Extent{{off + length - 4096, 4096}},
		n:     4096,
	}, {
		name:  "unused tail beyond the disk's end reads as zeros",
		area:  area(Extent{0, 1000}),
		rng:   Extent{0, 65536},
		disk:  func() *fakeDisk { return newFakeDisk(off + 2000) },
		reads: []Extent{{off, 1000}},
		n:     1000,
	}, {
		name:    "used bytes beyond the disk's end",
		area:    area(Extent{0, length}),
		rng:     Extent{0, 65536},
		disk:    func() *fakeDisk { return newFakeDisk(off + 30000) },
		wantErr: io.ErrUnexpectedEOF,
		errText: fmt.Sprintf("65536 used bytes at disk offset %d: the disk ends after 30000 of them", off),
	}, {
		name:    "short read inside the disk",
		area:    area(Extent{0, length}),
		rng:     Extent{65536, 65536},
		disk:    func() *fakeDisk { d := newFakeDisk(off + length); d.shortBy = 1; return d },
		wantErr: io.ErrUnexpectedEOF,
		errText: fmt.Sprintf("at disk offset %d: the disk returned only 65535 of them", off+65536),
	}, {
		name:    "read error",
		area:    area(Extent{0, 1000}, Extent{300000, 1000}),
		rng:     Extent{0, 512 << 10},
		disk:    func() *fakeDisk { d := newFakeDisk(off + length); d.fail = off + 300500; return d },
		n:       1000,
		wantErr: errDiskFailed,
		errText: fmt.Sprintf("reading 1000 used bytes at disk offset %d", off+300000),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDisk(off + length + 4096)
			if tc.disk != nil {
				d = tc.disk()
			}
			p := bytes.Repeat([]byte{0xee}, int(tc.rng.Len)) // stale data to clear
			n, err := tc.area.ReadMasked(d, tc.rng, p)
			if n != tc.n {
				t.Errorf("ReadMasked(%v) read %d bytes, want %d", tc.rng, n, tc.n)
			}
			if tc.reads != nil {
				if diff := cmp.Diff(tc.reads, d.reads, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("ReadMasked(%v) requests (-want +got):\n%s", tc.rng, diff)
				}
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("ReadMasked(%v) = %v, want no error", tc.rng, err)
				}
				if !bytes.Equal(p, d.want(tc.area, tc.rng)) {
					t.Errorf("ReadMasked(%v) bytes differ from the disk's used bytes and zeros", tc.rng)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("ReadMasked(%v) = %v, want an error wrapping %v (not io.EOF) that says %q", tc.rng, err, tc.wantErr, tc.errText)
			}
		})
	}
}

func TestReadMaskedBuffer(t *testing.T) {
	a := &Area{Length: 4096, Used: []Extent{{0, 4096}}, UsedBytes: 4096}
	if _, err := a.ReadMasked(newFakeDisk(8192), Extent{0, 4096}, make([]byte, 100)); err == nil {
		t.Errorf("ReadMasked(4096-byte range, 100-byte buffer) = nil error, want one")
	}
}

func TestAreas(t *testing.T) {
	d := &Disk{
		Boot: []Area{
			{Offset: 0, Length: 1 << 20, UsedBytes: 1 << 20, Chunks: make([]ChunkRef, 16)},
			{Offset: 100 << 20, Length: 16896, UsedBytes: 16896, Chunks: make([]ChunkRef, 1)},
		},
		Partitions: []Partition{
			{Index: 2, Area: Area{Offset: 50 << 20, Length: 40 << 20, UsedBytes: 3000, Chunks: make([]ChunkRef, 2)}},
			{Index: 1, Area: Area{Offset: 1 << 20, Length: 49 << 20, UsedBytes: 5000, Chunks: make([]ChunkRef, 3)}},
		},
	}
	var offs []int64
	for _, a := range d.Areas() {
		offs = append(offs, a.Offset)
	}
	if want := []int64{0, 1 << 20, 50 << 20, 100 << 20}; !cmp.Equal(offs, want) {
		t.Errorf("Areas() offsets = %v, want %v (disk order)", offs, want)
	}
	if d.Areas()[1] != &d.Partitions[1].Area {
		t.Errorf("Areas() copies the areas, want pointers into the disk")
	}
	for _, tc := range []struct {
		name              string
		as                Areas
		used, chunks, end int64
	}{
		{"all", d.Areas(), 1<<20 + 16896 + 8000, 22, 100<<20 + 16896},
		{"boot", d.BootAreas(), 1<<20 + 16896, 17, 100<<20 + 16896},
		{"partitions", d.PartitionAreas(), 8000, 5, 90 << 20},
		{"none", nil, 0, 0, 0},
	} {
		if got := tc.as.UsedBytes(); got != tc.used {
			t.Errorf("%s: UsedBytes() = %d, want %d", tc.name, got, tc.used)
		}
		if got := tc.as.Chunks(); got != tc.chunks {
			t.Errorf("%s: Chunks() = %d, want %d", tc.name, got, tc.chunks)
		}
		if got := tc.as.End(); got != tc.end {
			t.Errorf("%s: End() = %d, want %d", tc.name, got, tc.end)
		}
	}
	img := &Image{Disks: []Disk{*d, *d}}
	if got, want := img.UsedBytes(), 2*(1<<20+16896+8000); got != int64(want) {
		t.Errorf("Image.UsedBytes() = %d, want %d", got, want)
	}
}

// TestZeroed checks what a capture reads of an area with zeroed ranges
// (Data, ReadData: the used bytes outside them, zeros there, and no
// request for them) and what a target is compared with (ReadMasked: every
// used byte, zeroed ones included, as the target holds them).
func TestZeroed(t *testing.T) {
	const off, length = 4096, 256 << 10
	a := &Area{Offset: off, Length: length,
		Used:   []Extent{{0, 8192}, {100000, 150000}},
		Zeroed: []Extent{{4096, 4096}, {110000, 140000}}}
	a.UsedBytes = Size(a.Used)
	for _, tc := range []struct {
		rng  Extent
		data []Extent // relative to rng.Off
	}{
		{Extent{0, 65536}, []Extent{{0, 4096}}},
		{Extent{65536, 65536}, []Extent{{100000 - 65536, 10000}}},
		{Extent{131072, 65536}, nil},
		{Extent{196608, 65536}, nil},
		{Extent{0, length}, []Extent{{0, 4096}, {100000, 10000}}},
	} {
		got := a.Data(tc.rng)
		if diff := cmp.Diff(tc.data, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Data(%v) (-want +got):\n%s", tc.rng, diff)
		}
		d := newFakeDisk(off + length)
		p := bytes.Repeat([]byte{0xee}, int(tc.rng.Len))
		n, err := a.ReadData(d, tc.rng, p)
		if err != nil || n < Size(tc.data) {
			t.Fatalf("ReadData(%v) = %d, %v; want at least %d bytes read", tc.rng, n, err, Size(tc.data))
		}
		for _, r := range d.reads {
			for _, z := range a.Zeroed {
				// A read may run over a gap shorter than ReadGap, but
				// never over more than that of a zeroed range.
				s, e := max(r.Off, off+z.Off), min(r.End(), off+z.End())
				if e-s >= ReadGap {
					t.Errorf("ReadData(%v) read %v, over %d bytes of zeroed range %v", tc.rng, r, e-s, z)
				}
			}
		}
		want := make([]byte, tc.rng.Len)
		for _, e := range tc.data {
			copy(want[e.Off:e.End()], d.b[off+tc.rng.Off+e.Off:])
		}
		if !bytes.Equal(p, want) {
			t.Errorf("ReadData(%v): not the data outside the zeroed ranges and zeros elsewhere", tc.rng)
		}
		q := make([]byte, tc.rng.Len)
		if _, err := a.ReadMasked(d, tc.rng, q); err != nil || !bytes.Equal(q, d.want(a, tc.rng)) {
			t.Errorf("ReadMasked(%v) = %v, or not the target's used bytes (zeroed ones included)", tc.rng, err)
		}
	}
	if got := a.ZeroedBytes(); got != 144096 {
		t.Errorf("ZeroedBytes() = %d, want 144096", got)
	}
}

// TestZeroedCheck: a manifest's zeroed ranges must lie inside its used
// ranges, in order, and a chunk wholly inside them must be a zero chunk
// (a stored one would restore what the image says must not come back).
func TestZeroedCheck(t *testing.T) {
	const cs = 4096
	zero := chunk.Hash(make([]byte, cs))
	other := chunk.Hash([]byte("journal block"))
	area := func(zeroed []Extent, chunks ...ChunkRef) Area {
		used := []Extent{{0, 3 * cs}, {5 * cs, cs}}
		return Area{Offset: 0, Length: 8 * cs, Used: used, UsedBytes: Size(used), Zeroed: zeroed, Chunks: chunks}
	}
	refs := func(second ChunkRef) []ChunkRef {
		return []ChunkRef{{I: 0, ID: other}, second, {I: 2, ID: other}, {I: 5, ID: other}}
	}
	for _, tc := range []struct {
		name string
		a    Area
		bad  string // "" when valid
	}{
		{"none", area(nil, refs(ChunkRef{I: 1, ID: other})...), ""},
		{"a chunk zeroed whole, a zero chunk", area([]Extent{{cs, cs}}, refs(ChunkRef{I: 1, ID: zero, Zero: true})...), ""},
		{"part of a chunk", area([]Extent{{cs + 100, 200}}, refs(ChunkRef{I: 1, ID: other})...), ""},
		{"a chunk zeroed whole, but stored", area([]Extent{{cs, cs}}, refs(ChunkRef{I: 1, ID: other})...), "not a zero chunk"},
		{"outside used", area([]Extent{{3 * cs, cs}}, refs(ChunkRef{I: 1, ID: other})...), "not inside one used range"},
		{"across two used ranges", area([]Extent{{2 * cs, 4 * cs}}, refs(ChunkRef{I: 1, ID: other})...), "not inside one used range"},
		{"out of order", area([]Extent{{2 * cs, 10}, {cs, 10}}, refs(ChunkRef{I: 1, ID: other})...), "out of order"},
		{"overlapping", area([]Extent{{cs, 100}, {cs + 50, 100}}, refs(ChunkRef{I: 1, ID: other})...), "out of order"},
		{"empty", area([]Extent{{cs, 0}}, refs(ChunkRef{I: 1, ID: other})...), "empty"},
	} {
		err := tc.a.check(cs, 1<<20, 0, true)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%s: check = %v, want valid", tc.name, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%s: check = %v, want an error saying %q", tc.name, err, tc.bad)
		}
	}
}
