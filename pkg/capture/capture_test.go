// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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
	// The expected chunks, from the disk's bytes and the used extents alone:
	// each chunk of the partition that a used extent touches, its bytes
	// outside the used extents zeroed, named by its plain SHA-256.
	var want []repo.ChunkRef
	for i := int64(0); i < n/cs; i++ {
		masked := make([]byte, cs)
		touched := false
		for _, u := range used {
			lo, hi := max(u.Off, i*cs), min(u.Off+u.Len, (i+1)*cs)
			if lo < hi {
				copy(masked[lo-i*cs:hi-i*cs], d.B[start+lo:start+hi])
				touched = true
			}
		}
		if touched {
			want = append(want, repo.ChunkRef{I: i, ID: sha256.Sum256(masked), Zero: !slices.ContainsFunc(masked, func(b byte) bool { return b != 0 })})
		}
	}
	if len(want) != n/cs-2 || !want[8].Zero || want[4].ID != want[5].ID || want[9].I != 10 {
		t.Fatalf("the test's own expectation is off: %d chunks, want all but chunks 9 and 11, chunk 8 zero, 4 and 5 alike", len(want))
	}
	// Where each chunk lies in the repository is checked by reading it below.
	if diff := cmp.Diff(want, p.Chunks, cmpopts.IgnoreFields(repo.ChunkRef{}, "Pack", "Off", "Len")); diff != "" {
		t.Errorf("partition chunks differ from the masked ranges' SHA-256 (-want +got):\n%s", diff)
	}
	stored := map[chunk.ID]bool{}
	idx, err := r.LoadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Chunks {
		_, has := idx.Lookup(c.ID)
		if !c.Zero {
			if _, err := r.LoadRef(ctx, img, c, nil); err != nil {
				t.Errorf("chunk %d: reading it where the manifest says = %v", c.I, err)
			}
		}
		if has == c.Zero {
			t.Errorf("chunk %d (zero %v): stored = %v", c.I, c.Zero, has)
		}
		if has {
			stored[c.ID] = true
		}
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

// readLog is a Source that records the reads made of it.
type readLog struct {
	*testutil.MemDisk
	mu    sync.Mutex
	reads [][2]int64 // offset, length
}

func (l *readLog) ReadAt(p []byte, off int64) (int, error) {
	l.mu.Lock()
	l.reads = append(l.reads, [2]int64{off, int64(len(p))})
	l.mu.Unlock()
	return l.MemDisk.ReadAt(p, off)
}

// TestCaptureLargeReads checks that used extents are read in large pieces:
// the 32 MiB partition, all used, in exactly four reads of 8 MiB (the
// default ReadSize); before it, the MBR's sector for the layout (a plain
// MBR, so no GPT to look for) and the 1 MiB boot area in one read. Any
// other read is one too many: per chunk, per sector, or twice.
func TestCaptureLargeReads(t *testing.T) {
	const cs = 64 << 10
	const start, n = 1 << 20, 32 << 20
	r := newRepo(t, cs)
	d := &readLog{MemDisk: testutil.MBRDisk(40<<20, start, n, 0x12345678, 3)}
	_, err := Capture(context.Background(), r, []Source{d}, Options{Machine: "ws1", Map: fixedMap(blockmap.Extent{Off: 0, Len: n})})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(d.reads, func(a, b [2]int64) int {
		if a[0] != b[0] {
			return int(min(max(a[0]-b[0], -1), 1))
		}
		return int(min(max(a[1]-b[1], -1), 1))
	})
	want := [][2]int64{{0, 512}, {0, start}, {start, 8 << 20}, {start + 8<<20, 8 << 20}, {start + 16<<20, 8 << 20}, {start + 24<<20, 8 << 20}}
	if diff := cmp.Diff(want, d.reads); diff != "" {
		t.Errorf("reads of the disk (offset, length) (-want +got):\n%s", diff)
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

// TestCaptureBoundedIndex: with room for fewer chunks than the repository
// holds, a capture still stores only what changed since its machine's
// previous image (which it learns first); a chunk that only another
// machine's older image holds is stored again, which the capture says;
// and everything restores and checks clean.
func TestCaptureBoundedIndex(t *testing.T) {
	const cs = 32 << 10
	ctx := context.Background()
	r := newRepo(t, cs)
	const start, n = 1 << 20, 2 << 20 // 64 chunks
	full := fixedMap(blockmap.Extent{Off: 0, Len: n})
	ws1 := testutil.MBRDisk(4<<20, start, n, 1, 1)
	ws2 := testutil.MBRDisk(4<<20, start, n, 2, 2)
	if _, err := Capture(ctx, r, []Source{ws1}, Options{Machine: "ws1", Map: full}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // index files are read newest first, by time
	if _, err := Capture(ctx, r, []Source{ws2}, Options{Machine: "ws2", Map: full}); err != nil {
		t.Fatal(err)
	}

	// ws1 a week later: three chunks changed. The index has room for ws1's
	// image and a little more, not for ws2's too.
	for _, i := range []int64{3, 30, 60} {
		copy(ws1.B[start+i*cs:], "a week of work")
	}
	tr := progress.NewTracker()
	res, err := Capture(ctx, r, []Source{ws1}, Options{Machine: "ws1", Map: full, IndexMax: 80, Progress: tr})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.NewChunks != 3 {
		t.Errorf("ws1's week stored %d chunks, want the 3 that changed", res.Stats.NewChunks)
	}
	notes := tr.Status().Notes
	if !slices.ContainsFunc(notes, func(n progress.Note) bool {
		return strings.Contains(n.Text, "more than a capture keeps in memory")
	}) {
		t.Errorf("notes %q do not say the index was bounded", notes)
	}

	// A third machine with ws2's disk, and room for ten chunks: what ws2
	// stored is not known, but for the few of the newest index files that
	// fit, so its partition is stored again.
	res, err = Capture(ctx, r, []Source{ws2}, Options{Machine: "ws3", Map: full, IndexMax: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.NewChunks < 64-10 {
		t.Errorf("ws3 stored %d chunks, want at least 54 of ws2's 64 again", res.Stats.NewChunks)
	}
	for _, m := range []struct {
		name string
		disk *testutil.MemDisk
	}{{"ws1", ws1}, {"ws2", ws2}, {"ws3", ws2}} {
		s, err := r.FindSnapshot(ctx, m.name, repo.KindImage, "latest")
		if err != nil {
			t.Fatal(err)
		}
		p := s.Image.Disks[0].Partitions[0]
		for _, c := range p.Chunks {
			got, err := r.LoadRef(ctx, s.Image, c, nil)
			if err != nil || !bytes.Equal(got, m.disk.B[start+c.I*cs:start+(c.I+1)*cs]) {
				t.Fatalf("%s chunk %d reads %d bytes, %v; want the disk's", m.name, c.I, len(got), err)
			}
		}
	}
	check, err := r.Check(ctx, repo.CheckOptions{ReadData: true})
	if err != nil || len(check.Problems) > 0 {
		t.Errorf("check --read-data = %v, %q; want clean", err, check.Problems)
	}
}
