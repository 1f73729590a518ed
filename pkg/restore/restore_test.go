// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

func fixedMap(ext ...blockmap.Extent) capture.Mapper {
	return func(ctx context.Context, r io.ReaderAt, size int64) (*blockmap.Map, error) {
		return &blockmap.Map{Summary: blockmap.Summary{FS: "test", Mode: blockmap.UsedBlocks}, Extents: ext}, nil
	}
}

func newLocalRepo(t testing.TB, cs int) (*repo.Repository, string) {
	t.Helper()
	return newLocalRepoV(t, cs, 0)
}

// newLocalRepoV makes a local repository of format version (0: the
// default).
func newLocalRepoV(t testing.TB, cs, version int) (*repo.Repository, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(context.Background(), s, repo.InitOptions{ChunkSize: cs, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

// memFixture is a captured in-memory disk: partition at 1 MiB of 3 MiB,
// used except for 64 KiB at its middle; chunk 5 zero.
type memFixture struct {
	r    *repo.Repository
	dir  string
	src  *testutil.MemDisk
	snap *repo.Snapshot
	used []blockmap.Extent
}

const (
	memCS    = 64 << 10
	memStart = 1 << 20
	memLen   = 3 << 20
)

func newMemFixture(t *testing.T) *memFixture {
	t.Helper()
	f := &memFixture{}
	f.r, f.dir = newLocalRepo(t, memCS)
	f.src = testutil.MBRDisk(8<<20, memStart, memLen, 0xcafe1234, 7)
	clear(f.src.B[memStart+5*memCS : memStart+6*memCS])
	f.used = []blockmap.Extent{{Off: 0, Len: memLen/2 - 1000}, {Off: memLen/2 + 64<<10, Len: memLen/2 - 64<<10}}
	res, err := capture.Capture(context.Background(), f.r, []capture.Source{f.src}, capture.Options{Machine: "ws1", Map: fixedMap(f.used...)})
	if err != nil {
		t.Fatal(err)
	}
	f.snap = res.Snapshot
	return f
}

// checkUsed fails t unless dst holds src's head area and used extents.
func (f *memFixture) checkUsed(t *testing.T, dst *testutil.MemDisk) {
	t.Helper()
	if !bytes.Equal(dst.B[:memStart], f.src.B[:memStart]) {
		t.Errorf("restored head area differs")
	}
	for _, e := range f.used {
		a, b := f.src.B[memStart+e.Off:memStart+e.End()], dst.B[memStart+e.Off:memStart+e.End()]
		if !bytes.Equal(a, b) {
			t.Errorf("restored used extent %+v differs", e)
		}
	}
}

func TestRestoreMemory(t *testing.T) {
	ctx := context.Background()
	f := newMemFixture(t)
	used := f.snap.Image.UsedBytes()

	// A blank target: everything but the zero chunk is fetched.
	dst := &testutil.MemDisk{B: make([]byte, len(f.src.B))}
	tr := progress.NewTracker()
	sum, err := Restore(ctx, f.r, f.snap, []Target{dst}, Options{Progress: tr})
	if err != nil {
		t.Fatal(err)
	}
	f.checkUsed(t, dst)
	// What was written is read back; what was in place (the zero chunk)
	// was read and checked by the compare pass.
	if !sum.Verified || sum.VerifiedAll || sum.VerifiedBytes >= used || sum.VerifiedBytes+sum.Skipped < used {
		t.Errorf("Restore(blank) verified %v (all %v) %d bytes, skipped %d; want true (false), %d in all", sum.Verified, sum.VerifiedAll, sum.VerifiedBytes, sum.Skipped, used)
	}
	if sum.Fetches == 0 || sum.Fetched == 0 || sum.Fetched != tr.Status().Get(progress.Fetched) {
		t.Errorf("Restore(blank) fetched %d chunks, %d bytes (progress %d); want some, and the same in progress", sum.Fetches, sum.Fetched, tr.Status().Get(progress.Fetched))
	}
	if sum.Skips != 1 {
		t.Errorf("Restore(blank) skipped %d chunks, want 1 (the zero chunk, already zero)", sum.Skips)
	}
	// The unused hole was not written.
	hole := dst.B[memStart+memLen/2 : memStart+memLen/2+64<<10]
	if !chunk.IsZero(hole) {
		t.Errorf("the unused range was written")
	}

	// Again: nothing fetched, nothing written, not even the table (the
	// MBR's head area and, by disk.WriteTable, a zeroed last sector against
	// stale GPTs): the target holds it.
	dst.Written = 0
	sum, err = Restore(ctx, f.r, f.snap, []Target{dst}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fetches != 0 || sum.Fetched != 0 || dst.Written != 0 || sum.Written != 0 || sum.Skipped != used+512 || !sum.Verified {
		t.Errorf("Restore(same) fetched %d chunks (%d bytes), wrote %d bytes (summary %d), skipped %d, verified %v; want 0, 0, 0 (0), %d, true",
			sum.Fetches, sum.Fetched, dst.Written, sum.Written, sum.Skipped, sum.Verified, used+512)
	}

	// Damage one chunk's range and the zero chunk: only they are written.
	dst.B[memStart+3*memCS+17] ^= 0xff
	dst.B[memStart+5*memCS+3] = 1
	dst.Written = 0
	sum, err = Restore(ctx, f.r, f.snap, []Target{dst}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.checkUsed(t, dst)
	if sum.Fetches != 1 || sum.Zeroed != memCS || dst.Written != 2*memCS {
		t.Errorf("Restore(2 damaged chunks) fetched %d chunks, zeroed %d, wrote %d bytes; want 1, %d, %d", sum.Fetches, sum.Zeroed, dst.Written, memCS, 2*memCS)
	}

	// ZeroUnused wipes the hole, Overwrite writes everything.
	for i := range dst.B[memStart:] {
		if dst.B[memStart+i] == 0 {
			dst.B[memStart+i] = 0xee
		}
	}
	sum, err = Restore(ctx, f.r, f.snap, []Target{dst}, Options{ZeroUnused: true, Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	f.checkUsed(t, dst)
	if !chunk.IsZero(dst.B[memStart+memLen/2-1000 : memStart+memLen/2+64<<10]) {
		t.Errorf("ZeroUnused left the unused range")
	}
	if sum.Skips != 0 || sum.Zeroed < 64<<10 {
		t.Errorf("Restore(Overwrite, ZeroUnused) skipped %d, zeroed %d; want 0 skipped, the hole zeroed", sum.Skips, sum.Zeroed)
	}
}

func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	f := newMemFixture(t)
	for _, size := range []int64{memStart + memLen - 512, 4096} {
		dst := &testutil.MemDisk{B: bytes.Repeat([]byte{0x5a}, int(size))}
		_, err := Restore(ctx, f.r, f.snap, []Target{dst}, Options{})
		if !errors.Is(err, ErrTooSmall) {
			t.Errorf("Restore(%d-byte target) = %v, want ErrTooSmall", size, err)
		}
		if dst.Written != 0 {
			t.Errorf("Restore(%d-byte target) wrote %d bytes, want none", size, dst.Written)
		}
	}
	// Exactly the end of the partition is enough.
	dst := &testutil.MemDisk{B: make([]byte, memStart+memLen)}
	if _, err := Restore(ctx, f.r, f.snap, []Target{dst}, Options{}); err != nil {
		t.Errorf("Restore(target ending at the partition's end) = %v", err)
	}
	f.checkUsed(t, dst)

	if _, err := Restore(ctx, f.r, f.snap, nil, Options{}); err == nil {
		t.Errorf("Restore(no target) = nil error")
	}
}

func TestRestoreCorruptChunk(t *testing.T) {
	ctx := context.Background()
	f := newMemFixture(t)
	p := f.snap.Image.Disks[0].Partitions[0]
	c := p.Chunks[2]
	damageChunk(t, f.r, f.dir, f.snap.Image, c)
	dst := &testutil.MemDisk{B: make([]byte, len(f.src.B))}
	sum, err := Restore(ctx, f.r, f.snap, []Target{dst}, Options{})
	off := p.Offset + 2*memCS
	if !errors.Is(err, chunk.ErrCorrupt) || !strings.Contains(err.Error(), c.ID.String()) || !strings.Contains(err.Error(), "offset "+itoa(off)) {
		t.Fatalf("Restore(corrupt chunk) = %v, want chunk.ErrCorrupt naming %s and offset %d", err, c.ID, off)
	}
	if sum != nil && sum.Verified {
		t.Errorf("Restore(corrupt chunk) reports verified")
	}
}

// failingReads is a disk whose reads fail: a target that cannot even be
// compared before it is written.
type failingReads struct{ *testutil.MemDisk }

var errReadFailed = errors.New("injected read failure")

func (failingReads) ReadAt(p []byte, off int64) (int, error) { return 0, errReadFailed }

// TestRestorePartlyWritten stops a restore after it has written (a chunk
// is damaged on the store): the error says the target is partly written
// and that the same restore finishes it, which it does once the chunk is
// repaired. A restore that stops before writing does not say so.
func TestRestorePartlyWritten(t *testing.T) {
	ctx := context.Background()
	f := newMemFixture(t)
	c := f.snap.Image.Disks[0].Partitions[0].Chunks[9]
	name, good := damageChunk(t, f.r, f.dir, f.snap.Image, c)

	dst := &testutil.MemDisk{B: make([]byte, len(f.src.B))}
	_, err := Restore(ctx, f.r, f.snap, []Target{dst}, Options{Workers: 1, Fetches: 2})
	const say = "the target disk is now partly written: run the same restore again to finish it once the cause is fixed; it writes only what is still missing"
	if !errors.Is(err, ErrPartlyWritten) || !errors.Is(err, chunk.ErrCorrupt) || !strings.Contains(err.Error(), say) || dst.Written == 0 {
		t.Fatalf("Restore(damaged chunk) = %v after writing %d bytes; want ErrPartlyWritten and chunk.ErrCorrupt, saying %q, after some writes", err, dst.Written, say)
	}
	t.Logf("the message: %v", err)

	// Repaired, the same restore finishes: what was written stays.
	if err := os.WriteFile(name, good, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := Restore(ctx, f.r, f.snap, []Target{dst}, Options{Workers: 1, Fetches: 2})
	// The zero chunk is always "skipped" on a blank target: resuming means
	// chunks the first run wrote are skipped too, and not fetched again.
	if err != nil || !sum.Verified || sum.Skips < 2 || sum.Fetches >= sum.Chunks-1 {
		t.Fatalf("Restore(again, chunk repaired) = %+v, %v; want verified, resuming (chunks the first run wrote skipped, not fetched)", sum, err)
	}
	f.checkUsed(t, dst)

	// Nothing written: no word of a partly written target.
	fr := failingReads{&testutil.MemDisk{B: make([]byte, len(f.src.B))}}
	_, err = Restore(ctx, f.r, f.snap, []Target{fr}, Options{})
	if !errors.Is(err, errReadFailed) || errors.Is(err, ErrPartlyWritten) || strings.Contains(err.Error(), "partly") || fr.Written != 0 {
		t.Errorf("Restore(target that fails reads) = %v after writing %d bytes; want the read error, not ErrPartlyWritten, nothing written", err, fr.Written)
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	f := newMemFixture(t)
	img := f.snap.Image
	res, err := Verify(ctx, img, []Source{f.src}, VerifyOptions{})
	if err != nil || res.Bytes != img.UsedBytes() {
		t.Fatalf("Verify(source) = %+v, %v; want %d bytes checked", res, err, img.UsedBytes())
	}
	// A change in an unused range does not matter; one in a used range does.
	f.src.B[memStart+memLen/2+10] ^= 1
	if _, err := Verify(ctx, img, []Source{f.src}, VerifyOptions{}); err != nil {
		t.Errorf("Verify(changed unused byte) = %v, want nil", err)
	}
	bad := int64(memStart + 7*memCS + 5)
	f.src.B[bad] ^= 1
	_, err = Verify(ctx, img, []Source{f.src}, VerifyOptions{})
	want := "offset " + itoa(memStart+7*memCS)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), want) {
		t.Errorf("Verify(changed used byte) = %v, want ErrMismatch naming %q", err, want)
	}
	// The boot area counts too.
	f.src.B[bad] ^= 1
	f.src.B[100] ^= 1
	if _, err := Verify(ctx, img, []Source{f.src}, VerifyOptions{}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "offset 0") {
		t.Errorf("Verify(changed boot code) = %v, want ErrMismatch at offset 0", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// cancelAfter is a Reporter that cancels a context once n items are done.
type cancelAfter struct {
	progress.Reporter
	n      int64
	cancel context.CancelFunc
	mu     sync.Mutex
}

func (c *cancelAfter) Add(k progress.Counter, n int64) {
	if k == progress.Items {
		c.mu.Lock()
		c.n -= n
		if c.n <= 0 {
			c.cancel()
		}
		c.mu.Unlock()
	}
}

// TestCancel stops a capture and a restore midway: both return the
// context's error, and a capture leaves no snapshot.
func TestCancel(t *testing.T) {
	r, _ := newLocalRepo(t, memCS)
	src := testutil.MBRDisk(8<<20, memStart, memLen, 0xcafe1234, 7)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := capture.Capture(ctx, r, []capture.Source{src}, capture.Options{
		Machine: "ws1", Map: fixedMap(blockmap.Extent{Off: 0, Len: memLen}), Workers: 2, Uploads: 1,
		Progress: &cancelAfter{Reporter: progress.Discard, n: 10, cancel: cancel}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Capture(cancelled) = %v, want context.Canceled", err)
	}
	if snaps, _ := r.Snapshots(context.Background(), nil); len(snaps) != 0 {
		t.Errorf("Capture(cancelled) left %d snapshots", len(snaps))
	}

	f := newMemFixture(t)
	dst := &testutil.MemDisk{B: make([]byte, len(f.src.B))}
	ctx, cancel = context.WithCancel(context.Background())
	sum, err := Restore(ctx, f.r, f.snap, []Target{dst}, Options{Workers: 2, Fetches: 2,
		Progress: &cancelAfter{Reporter: progress.Discard, n: 10, cancel: cancel}})
	if !errors.Is(err, context.Canceled) || sum == nil || sum.Verified {
		t.Errorf("Restore(cancelled) = %+v, %v; want context.Canceled and no verification", sum, err)
	}
}

// TestTwoDisks captures two disks into one image and restores both.
func TestTwoDisks(t *testing.T) {
	ctx := context.Background()
	r, _ := newLocalRepo(t, memCS)
	a, b := testutil.MBRDisk(6<<20, memStart, memLen, 0xcafe1234, 1), testutil.MBRDisk(5<<20, memStart, 2<<20, 0xcafe1234, 2)
	res, err := capture.Capture(ctx, r, []capture.Source{a, b}, capture.Options{Machine: "srv", Map: fixedMap(blockmap.Extent{Off: 4096, Len: 1 << 20})})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Snapshot.Image.Disks); n != 2 {
		t.Fatalf("Capture(2 disks) = %d disks", n)
	}
	ta, tb := &testutil.MemDisk{B: make([]byte, 6<<20)}, &testutil.MemDisk{B: make([]byte, 5<<20)}
	sum, err := Restore(ctx, r, res.Snapshot, []Target{ta, tb}, Options{})
	if err != nil || !sum.Verified {
		t.Fatalf("Restore(2 disks) = %+v, %v", sum, err)
	}
	for i, pair := range [][2]*testutil.MemDisk{{a, ta}, {b, tb}} {
		lo, hi := memStart+4096, memStart+4096+1<<20
		if !bytes.Equal(pair[0].B[:memStart], pair[1].B[:memStart]) || !bytes.Equal(pair[0].B[lo:hi], pair[1].B[lo:hi]) {
			t.Errorf("disk %d differs after the restore", i+1)
		}
	}
	// Only the first disk.
	if _, err := Restore(ctx, r, res.Snapshot, []Target{&testutil.MemDisk{B: make([]byte, 6<<20)}}, Options{}); err != nil {
		t.Errorf("Restore(first disk only) = %v", err)
	}
	// A second target too small: nothing written to the first.
	ta2 := &testutil.MemDisk{B: make([]byte, 6<<20)}
	if _, err := Restore(ctx, r, res.Snapshot, []Target{ta2, &testutil.MemDisk{B: make([]byte, 2<<20)}}, Options{}); !errors.Is(err, ErrTooSmall) || ta2.Written != 0 {
		t.Errorf("Restore(second target too small) = %v and wrote %d bytes to the first; want ErrTooSmall, nothing written", err, ta2.Written)
	}
}

// TestVerifyWritten: the read-back reads what the restore wrote, all of
// it with VerifyFull, and a write the disk lost is found either way.
func TestVerifyWritten(t *testing.T) {
	ctx := context.Background()
	f := newMemFixture(t)
	used := f.snap.Image.UsedBytes()
	head := f.snap.Image.Disks[0].BootAreas().UsedBytes()
	dst := &testutil.MemDisk{B: make([]byte, len(f.src.B))}
	if _, err := Restore(ctx, f.r, f.snap, []Target{dst}, Options{}); err != nil {
		t.Fatal(err)
	}

	// One chunk damaged: it alone is written, and read back with the head
	// area (the table's, always read back whole).
	dst.B[memStart+3*memCS+17] ^= 0xff
	sum, err := Restore(ctx, f.r, f.snap, []Target{dst}, Options{})
	if err != nil || !sum.Verified || sum.VerifiedAll || sum.VerifiedBytes != head+memCS {
		t.Errorf("Restore(one chunk damaged) = %v, verified %v (all %v) %d bytes; want the head area and one chunk, %d", err, sum.Verified, sum.VerifiedAll, sum.VerifiedBytes, head+memCS)
	}
	sum, err = Restore(ctx, f.r, f.snap, []Target{dst}, Options{VerifyFull: true})
	if err != nil || !sum.Verified || !sum.VerifiedAll || sum.VerifiedBytes != used {
		t.Errorf("Restore(VerifyFull) = %v, verified %v (all %v) %d bytes; want every used byte, %d", err, sum.Verified, sum.VerifiedAll, sum.VerifiedBytes, used)
	}

	// A disk that loses the write of that chunk: the read-back finds it,
	// beside the restore (MemDisk reads as a device past its cache does)
	// or after it (a target that cannot).
	good := dst.B[memStart+3*memCS+17]
	for _, beside := range []bool{true, false} {
		dst.B[memStart+3*memCS+17] = good ^ 0xff
		dst.Direct = 0
		lossy := &lossyDisk{MemDisk: dst, lose: memStart + 3*memCS}
		var tgt Target = lossy
		if !beside {
			tgt = struct{ Target }{lossy}
		}
		_, err = Restore(ctx, f.r, f.snap, []Target{tgt}, Options{})
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", memStart+3*memCS)) {
			t.Errorf("Restore(a lost write, beside %v) = %v; want ErrMismatch at offset %d", beside, err, memStart+3*memCS)
		}
		if direct := dst.Direct > 0; direct != beside {
			t.Errorf("Restore(a lost write, beside %v) opened the disk for direct reads %d times", beside, dst.Direct)
		}
	}
}

// lossyDisk is a testutil.MemDisk whose writes at offset lose are lost.
type lossyDisk struct {
	*testutil.MemDisk
	lose int64
}

func (d *lossyDisk) WriteAt(p []byte, off int64) (int, error) {
	if off <= d.lose && d.lose < off+int64(len(p)) {
		return len(p), nil
	}
	return d.MemDisk.WriteAt(p, off)
}

// droppingDisk is a testutil.MemDisk that records DropCache calls.
type droppingDisk struct {
	*testutil.MemDisk
	drops int
}

func (d *droppingDisk) DropCache() error { d.drops++; return nil }

// TestNoTable images a disk that holds a filesystem without a partition
// table, and checks that the read-back asks the target to drop its cache.
func TestNoTable(t *testing.T) {
	ctx := context.Background()
	r, _ := newLocalRepo(t, memCS)
	src := &testutil.MemDisk{B: make([]byte, 2<<20)}
	rng := rand.New(rand.NewPCG(5, 5))
	for i := 4096; i < len(src.B); i++ {
		src.B[i] = byte(rng.Uint32())
	}
	res, err := capture.Capture(ctx, r, []capture.Source{src}, capture.Options{Machine: "usb", Map: fixedMap(blockmap.Extent{Off: 0, Len: 1 << 20})})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Snapshot.Image.Disks[0]
	if d.Table != "none" || len(d.Boot) != 0 || len(d.Partitions) != 1 || d.Partitions[0].Offset != 0 {
		t.Fatalf("Capture(no table) = table %q, %d boot areas, partitions %+v; want none, 0, one at offset 0", d.Table, len(d.Boot), d.Partitions)
	}
	dst := &droppingDisk{MemDisk: &testutil.MemDisk{B: make([]byte, 2<<20)}}
	sum, err := Restore(ctx, r, res.Snapshot, []Target{dst}, Options{})
	if err != nil || !sum.Verified {
		t.Fatalf("Restore(no table) = %+v, %v", sum, err)
	}
	if !bytes.Equal(dst.B[:1<<20], src.B[:1<<20]) || !chunk.IsZero(dst.B[1<<20:]) {
		t.Errorf("Restore(no table): the used megabyte differs, or the unused one was written")
	}
	if dst.drops != 2 {
		t.Errorf("Restore called DropCache %d times, want 2: before the compare pass and before the read-back", dst.drops)
	}
}

// recDisk is a testutil.MemDisk that records the writes it gets.
type recDisk struct {
	*testutil.MemDisk
	writes []repo.Extent
}

func (d *recDisk) WriteAt(p []byte, off int64) (int, error) {
	d.writes = append(d.writes, repo.Extent{Off: off, Len: int64(len(p))})
	return d.MemDisk.WriteAt(p, off)
}

func TestWriteUsed(t *testing.T) {
	const base = 1000 // the area's offset on the disk
	type ex = repo.Extent
	for _, tc := range []struct {
		used    []ex
		scratch bool
		want    []ex // writes, disk offsets
	}{
		{[]ex{{Off: 0, Len: 100}}, true, []ex{{Off: base, Len: 100}}},
		{[]ex{{Off: 0, Len: 10}, {Off: 20, Len: 10}, {Off: 50, Len: 5}}, true, []ex{{Off: base, Len: 55}}},
		{[]ex{{Off: 0, Len: 10}, {Off: 20, Len: 10}, {Off: 50, Len: 5}}, false, []ex{{Off: base, Len: 10}, {Off: base + 20, Len: 10}, {Off: base + 50, Len: 5}}},
		{[]ex{{Off: 0, Len: 10}, {Off: 20, Len: 10}, {Off: 100 << 10, Len: 5}}, true, []ex{{Off: base, Len: 30}, {Off: base + 100<<10, Len: 5}}},
	} {
		d := &recDisk{MemDisk: &testutil.MemDisk{B: bytes.Repeat([]byte{0xee}, 200<<10)}}
		a := &repo.Area{Offset: base, Length: 150 << 10, Used: tc.used}
		j := &job{area: a, rng: repo.Extent{Off: 0, Len: 150 << 10}, used: tc.used}
		p := bytes.Repeat([]byte{0x11}, 150<<10)
		var scratch []byte
		if tc.scratch {
			scratch = make([]byte, 150<<10)
		}
		if err := writeUsed(d, j, p, scratch); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(d.writes) != fmt.Sprint(tc.want) {
			t.Errorf("writeUsed(%v, scratch %v) wrote %v, want %v", tc.used, tc.scratch, d.writes, tc.want)
		}
		// Used bytes hold the plaintext, the rest what the disk held.
		want := bytes.Repeat([]byte{0xee}, 200<<10)
		for _, u := range tc.used {
			copy(want[base+u.Off:base+u.End()], p[u.Off:u.End()])
		}
		if !bytes.Equal(d.B, want) {
			t.Errorf("writeUsed(%v, scratch %v) changed bytes outside the used parts, or missed some", tc.used, tc.scratch)
		}
	}
}

// bigSectors is a testutil.MemDisk with 4096-byte sectors.
type bigSectors struct{ *testutil.MemDisk }

func (bigSectors) SectorSize() int { return 4096 }

func TestRestoreSectorSize(t *testing.T) {
	f := newMemFixture(t)
	dst := bigSectors{&testutil.MemDisk{B: make([]byte, len(f.src.B))}}
	_, err := Restore(context.Background(), f.r, f.snap, []Target{dst}, Options{})
	if !errors.Is(err, disk.ErrSectorSize) || dst.Written != 0 {
		t.Errorf("Restore(4Kn target of a 512-byte-sector image) = %v, wrote %d bytes; want disk.ErrSectorSize, nothing written", err, dst.Written)
	}
}

func TestVerifySmallDisk(t *testing.T) {
	f := newMemFixture(t)
	small := &testutil.MemDisk{B: f.src.B[:memStart+memLen/2]}
	_, err := Verify(context.Background(), f.snap.Image, []Source{small}, VerifyOptions{})
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "partitions end at") {
		t.Errorf("Verify(disk smaller than the image) = %v, want ErrMismatch saying where the partitions end", err)
	}
}

// lyingDisk acknowledges writes at one offset without storing them, as a
// failing disk or a bad cable can.
type lyingDisk struct {
	*testutil.MemDisk
	at int64
}

func (d *lyingDisk) WriteAt(p []byte, off int64) (int, error) {
	if off <= d.at && d.at < off+int64(len(p)) {
		return len(p), nil
	}
	return d.MemDisk.WriteAt(p, off)
}

// TestReadBackCatchesLostWrites: a disk that loses a write fails the
// restore, naming the chunk, and the summary does not claim verification.
func TestReadBackCatchesLostWrites(t *testing.T) {
	f := newMemFixture(t)
	lost := int64(memStart + 9*memCS)
	dst := &lyingDisk{MemDisk: &testutil.MemDisk{B: make([]byte, len(f.src.B))}, at: lost}
	sum, err := Restore(context.Background(), f.r, f.snap, []Target{dst}, Options{})
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "offset "+itoa(lost)) || sum == nil || sum.Verified {
		t.Errorf("Restore(disk losing a write) = %+v, %v; want ErrMismatch at offset %d, not verified", sum, err, lost)
	}
	// Without the read-back the loss goes unseen: Verified says so.
	dst = &lyingDisk{MemDisk: &testutil.MemDisk{B: make([]byte, len(f.src.B))}, at: lost}
	sum, err = Restore(context.Background(), f.r, f.snap, []Target{dst}, Options{NoVerify: true})
	if err != nil || sum.Verified {
		t.Errorf("Restore(NoVerify) = %+v, %v; want no error and Verified false", sum, err)
	}
}

// TestTableWriterKeepsTargetChecks: the compare-first writer that restore
// hands disk.WriteTable still shows it the target's sector size, so that
// WriteTable's own guard refuses a 4Kn target of a 512-byte-sector table.
func TestTableWriterKeepsTargetChecks(t *testing.T) {
	f := newMemFixture(t)
	tb, err := loadTable(context.Background(), f.r, f.snap.Image, &f.snap.Image.Disks[0])
	if err != nil {
		t.Fatal(err)
	}
	dst := bigSectors{&testutil.MemDisk{B: make([]byte, len(f.src.B))}}
	w := &tableWriter{t: dst, tally: &tally{}}
	err = disk.WriteTable(context.Background(), w, dst.Size(), tb.saved, tb.layout)
	if !errors.Is(err, disk.ErrSectorSize) || dst.Written != 0 {
		t.Errorf("WriteTable(tableWriter on a 4Kn target) = %v, wrote %d bytes; want disk.ErrSectorSize, nothing written", err, dst.Written)
	}
}

// damageChunk flips the last stored byte of chunk c of img in the
// repository in dir, and returns the file it changed and its content
// before.
func damageChunk(t *testing.T, r *repo.Repository, dir string, img *repo.Image, c repo.ChunkRef) (string, []byte) {
	t.Helper()
	rel, off, n := r.Place(img, c)
	name := filepath.Join(dir, filepath.FromSlash(rel))
	good, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if n < 0 {
		n = int64(len(good)) - off
	}
	bad := bytes.Clone(good)
	bad[off+n-1] ^= 1
	if err := os.WriteFile(name, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	return name, good
}

// TestRestoreRepeatedChunks restores, in format 2, a partition where a few
// chunks recur all over (as filesystem metadata does) between unique ones:
// every place gets its bytes, and each repeated chunk is fetched once.
func TestRestoreRepeatedChunks(t *testing.T) {
	ctx := context.Background()
	const cs = 16 << 10
	for _, runBytes := range []int64{0, 1} {
		t.Run(fmt.Sprintf("runBytes=%d", runBytes), func(t *testing.T) {
			r, _ := newLocalRepoV(t, cs, 2)
			src := testutil.MBRDisk(8<<20, memStart, memLen, 0xcafe1234, 7)
			rng := rand.New(rand.NewPCG(3, 4))
			for k := int64(0); k < memLen/cs; k++ {
				if k%3 != 0 {
					p := src.B[memStart+k*cs : memStart+(k+1)*cs]
					clear(p)
					p[rng.IntN(5)] = byte(1 + rng.IntN(4)) // one of 20 chunks
				}
			}
			res, err := capture.Capture(ctx, r, []capture.Source{src}, capture.Options{Machine: "ws1", Map: fixedMap(blockmap.Extent{Off: 0, Len: memLen})})
			if err != nil {
				t.Fatal(err)
			}
			distinct := make(map[chunk.ID]bool)
			places := 0
			for _, a := range res.Snapshot.Image.Disks[0].Areas() {
				for _, c := range a.Chunks {
					if !c.Zero {
						distinct[c.ID] = true
						places++
					}
				}
			}
			if places < 2*len(distinct) {
				t.Fatalf("the image has %d distinct chunks in %d places: the test wants repeats", len(distinct), places)
			}
			dst := &testutil.MemDisk{B: make([]byte, len(src.B))}
			sum, err := Restore(ctx, r, res.Snapshot, []Target{dst}, Options{RunBytes: runBytes})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dst.B[:memStart+memLen], src.B[:memStart+memLen]) {
				t.Fatalf("restored disk differs from the source")
			}
			// At most: the table writer may already have written the
			// head area's chunk.
			if sum.Fetches > int64(len(distinct)) {
				t.Errorf("Restore fetched %d chunks for %d distinct ones in %d places, want each distinct chunk at most once", sum.Fetches, len(distinct), places)
			}
		})
	}
}
