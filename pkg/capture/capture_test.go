// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

func TestChunkList(t *testing.T) {
	const cs = 4096
	for _, tc := range []struct {
		used [][2]int64 // offset, length
		want []int64
	}{
		{nil, nil},
		{[][2]int64{{0, 1}}, []int64{0}},
		{[][2]int64{{0, cs}}, []int64{0}},
		{[][2]int64{{0, cs + 1}}, []int64{0, 1}},
		{[][2]int64{{10, 5}, {20, 5}, {cs - 1, 2}}, []int64{0, 1}},
		{[][2]int64{{cs - 1, 1}, {3 * cs, 10}}, []int64{0, 3}},
		{[][2]int64{{cs, 3 * cs}}, []int64{1, 2, 3}},
	} {
		var used []repo.Extent
		for _, u := range tc.used {
			used = append(used, repo.Extent{Off: u[0], Len: u[1]})
		}
		var got []int64
		for _, r := range chunkList(used, cs) {
			got = append(got, r.I)
		}
		if !cmp.Equal(got, tc.want) {
			t.Errorf("chunkList(%v, %d) = %v, want %v", tc.used, cs, got, tc.want)
		}
	}
}

// fixedMap is a Mapper that returns the same extents for every partition.
func fixedMap(ext ...blockmap.Extent) Mapper {
	return func(ctx context.Context, r io.ReaderAt, size int64) (*blockmap.Map, error) {
		var used int64
		for _, e := range ext {
			used += e.Len
		}
		return &blockmap.Map{Summary: blockmap.Summary{FS: "test", Mode: blockmap.UsedBlocks, Used: used}, Extents: ext}, nil
	}
}

func newRepo(t *testing.T, cs int) *repo.Repository {
	t.Helper()
	s, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(context.Background(), s, repo.InitOptions{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCaptureChunks checks the manifest against the disk: every chunk's
// plaintext is its range with the unused bytes zeroed, zero chunks are not
// stored, identical chunks are stored once, and a second capture of the
// same disk stores nothing.
func TestCaptureChunks(t *testing.T) {
	const cs = 64 << 10
	ctx := context.Background()
	r := newRepo(t, cs)
	const start, n = 1 << 20, 2 << 20
	d := testutil.MBRDisk(4<<20, start, n, 0x12345678, 1)
	// Chunks 4 and 5 the same, chunk 8 all zero, chunk 10 partly used.
	copy(d.B[start+5*cs:start+6*cs], d.B[start+4*cs:start+5*cs])
	clear(d.B[start+8*cs : start+9*cs])
	used := []blockmap.Extent{{Off: 0, Len: 9 * cs}, {Off: 10*cs + 100, Len: 200}, {Off: 12 * cs, Len: n - 12*cs}}

	tr := progress.NewTracker()
	res, err := Capture(ctx, r, []Source{d}, Options{Machine: "ws1", Map: fixedMap(used...), ReadSize: 3 * cs, Progress: tr})
	if err != nil {
		t.Fatal(err)
	}
	img := res.Snapshot.Image
	if len(img.Disks) != 1 || len(img.Disks[0].Partitions) != 1 || len(img.Disks[0].Boot) != 1 {
		t.Fatalf("Capture = %+v, want one disk with one boot area and one partition", img.Disks)
	}
	dk := img.Disks[0]
	if dk.Table != "mbr" || dk.Signature != 0x12345678 {
		t.Errorf("disk table %q signature %08x, want mbr 12345678", dk.Table, dk.Signature)
	}
	boot := dk.Boot[0]
	if boot.Offset != 0 || boot.Length != start || boot.UsedBytes != start {
		t.Errorf("boot area = %d+%d used %d, want 0+%d whole", boot.Offset, boot.Length, boot.UsedBytes, start)
	}
	p := dk.Partitions[0]
	var wantIdx []int64
	for i := int64(0); i < n/cs; i++ {
		if i != 9 && i != 11 {
			wantIdx = append(wantIdx, i)
		}
	}
	var gotIdx []int64
	stored := map[chunk.ID]bool{}
	for _, c := range p.Chunks {
		gotIdx = append(gotIdx, c.I)
		rng := p.Range(c.I, cs)
		want := make([]byte, rng.Len)
		for _, m := range p.Masked(rng) {
			copy(want[m.Off:m.End()], d.B[p.Offset+rng.Off+m.Off:])
		}
		if got := chunk.Hash(want); got != c.ID {
			t.Errorf("chunk %d: id %s, want the hash of its masked range %s", c.I, c.ID.Short(), got.Short())
		}
		if c.Zero != chunk.IsZero(want) {
			t.Errorf("chunk %d: Zero = %v, want %v", c.I, c.Zero, !c.Zero)
		}
		has, err := r.HasChunk(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if has == c.Zero {
			t.Errorf("chunk %d (zero %v): stored = %v", c.I, c.Zero, has)
		}
		if has {
			stored[c.ID] = true
		}
	}
	if !cmp.Equal(gotIdx, wantIdx) {
		t.Errorf("chunk indices = %v, want %v", gotIdx, wantIdx)
	}
	// The boot area's chunks: 16 of them, most zero.
	for _, c := range boot.Chunks {
		if !c.Zero {
			stored[c.ID] = true
		}
	}
	if res.Stats.NewChunks != int64(len(stored)) {
		t.Errorf("NewChunks = %d, want %d distinct non-zero chunks (identical chunks once)", res.Stats.NewChunks, len(stored))
	}
	wantRead := boot.UsedBytes + p.UsedBytes
	if res.Stats.ReadBytes != wantRead || tr.Status().Get(progress.Read) != wantRead {
		t.Errorf("ReadBytes = %d (progress %d), want the used bytes %d", res.Stats.ReadBytes, tr.Status().Get(progress.Read), wantRead)
	}
	if res.Stats.StoredBytes != res.Stats.NewBytes || res.Stats.NewBytes == 0 {
		t.Errorf("first capture: StoredBytes %d, NewBytes %d; want equal and non-zero", res.Stats.StoredBytes, res.Stats.NewBytes)
	}
	loaded, err := r.FindSnapshot(ctx, "ws1", repo.KindImage, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(img, loaded.Image); diff != "" {
		t.Errorf("stored snapshot differs from the result (-result +stored):\n%s", diff)
	}

	// The same disk again: nothing new.
	res2, err := Capture(ctx, r, []Source{d}, Options{Machine: "ws1", Map: fixedMap(used...)})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Stats.NewBytes != 0 || res2.Stats.NewChunks != 0 || res2.Stats.StoredBytes != res.Stats.StoredBytes {
		t.Errorf("re-capture stats = %+v, want no new bytes and StoredBytes %d", res2.Stats, res.Stats.StoredBytes)
	}
	if diff := cmp.Diff(img.Disks, res2.Snapshot.Image.Disks); diff != "" {
		t.Errorf("re-capture manifest differs:\n%s", diff)
	}
}

// TestCaptureLargeReads checks that used extents are read in large pieces.
func TestCaptureLargeReads(t *testing.T) {
	const cs = 64 << 10
	r := newRepo(t, cs)
	d := testutil.MBRDisk(40<<20, 1<<20, 32<<20, 0x12345678, 3)
	_, err := Capture(context.Background(), r, []Source{d}, Options{Machine: "ws1", Map: fixedMap(blockmap.Extent{Off: 0, Len: 32 << 20})})
	if err != nil {
		t.Fatal(err)
	}
	// 32 MiB in 8 MiB reads, the boot area, and the layout's few sectors.
	if got := d.Reads; got > 20 {
		t.Errorf("capture made %d reads of the disk, want about 5 (8 MiB each)", got)
	}
}

func TestCaptureErrors(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, 64<<10)
	d := testutil.MBRDisk(4<<20, 1<<20, 2<<20, 0x12345678, 1)
	boom := errors.New("disk fell off")
	for _, tc := range []struct {
		name  string
		disks []Source
		opt   Options
		want  string
	}{
		{"no disk", nil, Options{Machine: "ws1"}, "no disk"},
		{"bad machine", []Source{d}, Options{Machine: "a b"}, "machine name"},
		{"map fails", []Source{d}, Options{Machine: "ws1", Map: func(context.Context, io.ReaderAt, int64) (*blockmap.Map, error) {
			return nil, boom
		}}, "partition 1: disk fell off"},
		{"read fails", []Source{&failDisk{d}}, Options{Machine: "ws1", Map: fixedMap(blockmap.Extent{Off: 0, Len: 2 << 20})}, "disk fell off"},
	} {
		_, err := Capture(ctx, r, tc.disks, tc.opt)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("Capture(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	snaps, err := r.Snapshots(ctx, nil)
	if err != nil || len(snaps) != 0 {
		t.Errorf("after failed captures: %d snapshots, %v; want none", len(snaps), err)
	}
}

// TestCaptureUnclean images a partition whose map is refused as raw.
func TestCaptureUnclean(t *testing.T) {
	r := newRepo(t, 64<<10)
	d := testutil.MBRDisk(4<<20, 1<<20, 2<<20, 0x12345678, 1)
	res, err := Capture(context.Background(), r, []Source{d}, Options{Machine: "ws1", Map: func(context.Context, io.ReaderAt, int64) (*blockmap.Map, error) {
		return nil, fmt.Errorf("ntfs is hibernated: %w", blockmap.ErrUnclean)
	}})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Snapshot.Image.Disks[0].Partitions[0]
	if p.Mode != "raw" || p.UsedBytes != 2<<20 || len(res.Warnings) != 1 {
		t.Errorf("unclean partition: mode %q used %d warnings %q; want raw, %d, one warning", p.Mode, p.UsedBytes, res.Warnings, 2<<20)
	}
}

// failDisk fails reads past the first megabyte.
type failDisk struct{ *testutil.MemDisk }

func (f *failDisk) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > 1<<20 {
		return 0, errors.New("disk fell off")
	}
	return f.MemDisk.ReadAt(p, off)
}

func TestCoalesce(t *testing.T) {
	type ex = repo.Extent
	for _, tc := range []struct {
		in   []ex
		gap  int64
		want []ex
	}{
		{nil, 10, nil},
		{[]ex{{Off: 0, Len: 5}}, 10, []ex{{Off: 0, Len: 5}}},
		{[]ex{{Off: 0, Len: 5}, {Off: 14, Len: 1}}, 10, []ex{{Off: 0, Len: 15}}},
		{[]ex{{Off: 0, Len: 5}, {Off: 15, Len: 1}}, 10, []ex{{Off: 0, Len: 5}, {Off: 15, Len: 1}}},
		{[]ex{{Off: 0, Len: 5}, {Off: 6, Len: 1}, {Off: 100, Len: 3}, {Off: 104, Len: 1}}, 10, []ex{{Off: 0, Len: 7}, {Off: 100, Len: 5}}},
	} {
		if got := repo.Coalesce(tc.in, tc.gap); !cmp.Equal(got, tc.want) {
			t.Errorf("Coalesce(%v, %d) = %v, want %v", tc.in, tc.gap, got, tc.want)
		}
	}
}
