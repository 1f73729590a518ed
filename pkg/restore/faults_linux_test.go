// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
	"github.com/rewind-backup/rewind/pkg/store/retry"
)

// slowStore delays every chunk read, so that tests can act in the middle
// of a restore, and tells out about each chunk read. With a limit, it lets
// that many chunk reads through and holds every later one until ctx is
// done: the restore stops with exactly limit chunks fetched.
type slowStore struct {
	store.Store
	delay time.Duration
	limit int64 // 0: none
	reads atomic.Int64
	mu    sync.Mutex
	out   io.Writer // may be nil
}

func (s *slowStore) ReadFile(ctx context.Context, name string) ([]byte, error) {
	if err := s.gate(ctx, name); err != nil {
		return nil, err
	}
	b, err := s.Store.ReadFile(ctx, name)
	s.tell(name, err)
	return b, err
}

// ReadAt is how a format-2 restore reads a chunk: a range of a pack.
func (s *slowStore) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	if err := s.gate(ctx, name); err != nil {
		return 0, err
	}
	n, err := s.Store.ReadAt(ctx, name, p, off)
	s.tell(name, err)
	return n, err
}

// isChunk reports whether name holds chunks: a chunk file or a pack.
func isChunk(name string) bool {
	return strings.HasPrefix(name, "chunks/") || strings.HasPrefix(name, "packs/")
}

// gate delays a chunk read, or holds it until ctx is done past the limit.
func (s *slowStore) gate(ctx context.Context, name string) error {
	if !isChunk(name) {
		return nil
	}
	if s.limit > 0 && s.reads.Add(1) > s.limit {
		<-ctx.Done()
		return ctx.Err()
	}
	select {
	case <-time.After(s.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tell says a chunk read succeeded on s.out.
func (s *slowStore) tell(name string, err error) {
	if err == nil && s.out != nil && isChunk(name) {
		s.mu.Lock()
		fmt.Fprintln(s.out, "fetched", name)
		s.mu.Unlock()
	}
}

// TestMain: when REWIND_TEST_RESTORE is set, the test binary is a restore
// that a test can kill.
func TestMain(m *testing.M) {
	if spec := os.Getenv("REWIND_TEST_RESTORE"); spec != "" {
		if err := restoreHelper(spec); err != nil {
			fmt.Fprintln(os.Stderr, "restore helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// restoreHelper: "REPODIR TARGET LIMIT" restores the latest image of ws1
// from the local repository onto the blank image file TARGET, fetching
// LIMIT chunks (those of the partition table included) and then none: it
// says "written" on stdout for each chunk it has written, and waits for
// the test to kill it.
func restoreHelper(spec string) error {
	var dir, target string
	var limit int64
	if _, err := fmt.Sscan(spec, &dir, &target, &limit); err != nil {
		return err
	}
	ctx := context.Background()
	s, err := local.Open(dir)
	if err != nil {
		return err
	}
	slow := &slowStore{Store: s}
	r, err := repo.Open(ctx, slow)
	if err != nil {
		return err
	}
	snap, err := r.FindSnapshot(ctx, "ws1", repo.KindImage, "latest")
	if err != nil {
		return err
	}
	// Count from the restore's first read: loading the snapshot read its
	// chunk lists from packs too.
	slow.limit = limit
	dst, err := disk.OpenWrite(target)
	if err != nil {
		return err
	}
	defer dst.Close()
	// One chunk per read, so that the limit counts chunks.
	_, err = Restore(ctx, r, snap, []Target{dst}, Options{Fetches: 2, RunBytes: 1, Progress: &writtenNotes{out: os.Stdout}})
	return err
}

// writtenNotes says "written" for each chunk a restore reports written. On a
// blank target every such chunk was fetched: the zero chunks match already.
type writtenNotes struct {
	mu     sync.Mutex
	out    io.Writer
	chunks bool // in the chunks phase (the table's writes come before)
}

func (w *writtenNotes) Phase(name string, _ int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chunks = name == "chunks"
}

func (w *writtenNotes) Add(c progress.Counter, _ int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c == progress.Written && w.chunks {
		fmt.Fprintln(w.out, "written")
	}
}

func (w *writtenNotes) Note(progress.Level, string) {}
func (w *writtenNotes) At(int, int)                 {}

// TestResumeAfterKill kills a restore midway (as a power cut would) and
// runs it again: it completes, verifies, and fetches only what was not yet
// on the disk. The killed restore can fetch only half the chunks and has
// said it wrote each of them before the kill, so what the disk holds is
// known without waiting for anything to land.
func TestResumeAfterKill(t *testing.T) {
	d := linuxDisk(t, t.TempDir(), 40)
	r, repoDir := newLocalRepo(t, 0)
	snap := captureImage(t, r, d.path, "ws1").Snapshot
	dir := t.TempDir()

	// What a whole restore fetches.
	ref := filepath.Join(dir, "reference.img")
	testutil.SparseFile(t, ref, d.size)
	full, err := restoreImage(t, r, snap, ref, Options{NoVerify: true})
	if err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(dir, "target.img")
	testutil.SparseFile(t, dst, d.size)
	// The helper reads the table's chunks first, then the partitions'.
	var boot int64
	for _, a := range snap.Image.Disks[0].Boot {
		for _, c := range a.Chunks {
			if !c.Zero {
				boot++
			}
		}
	}
	half := full.Fetches / 2
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("REWIND_TEST_RESTORE=%s %s %d", repoDir, dst, boot+half))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Bounded: a helper that never writes enough is killed, and the scan
	// below ends.
	stop := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer stop.Stop()
	sc := bufio.NewScanner(stdout)
	var written int64
	for written < half && sc.Scan() {
		if sc.Text() == "written" {
			written++
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if written != half {
		t.Fatalf("the restore to kill ended after writing %d chunks, want it held after %d (scan: %v)", written, half, sc.Err())
	}
	t.Logf("killed the restore after %d of %d chunks written", written, full.Fetches)

	target, err := disk.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	// What the disk lacks now: the places whose chunk is not there, and
	// the distinct chunks among them. A chunk that stands in several
	// places is fetched once per restore (when it is small, or when its
	// places come close together), so a resume fetches each missing
	// chunk at least once and no more than once per missing place.
	places, missing, distinct := 0, 0, map[chunk.ID]bool{}
	for _, a := range snap.Image.Disks[0].PartitionAreas() {
		for _, c := range a.Chunks {
			if c.Zero {
				continue
			}
			rng := a.Range(c.I, snap.Image.ChunkSize)
			p := make([]byte, rng.Len)
			if _, err := a.ReadMasked(target, rng, p); err != nil {
				t.Fatal(err)
			}
			places++
			if chunk.Hash(p) != c.ID {
				missing++
				distinct[c.ID] = true
			}
		}
	}
	if missing > places-int(written) {
		t.Fatalf("after the kill %d of %d places lack their chunk, but the restore said it wrote %d", missing, places, written)
	}
	_, err = Verify(context.Background(), snap.Image, []Source{target}, VerifyOptions{})
	target.Close()
	t.Logf("after the kill: %v", err)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify(killed restore's target) = %v, want ErrMismatch: the kill came too late to test a resume", err)
	}

	sum, err := restoreImage(t, r, snap, dst, Options{})
	if err != nil {
		t.Fatalf("Restore after the kill = %v", err)
	}
	t.Logf("resumed: fetched %d chunks (%d bytes), skipped %d; a full restore fetches %d chunks (%d bytes)", sum.Fetches, sum.Fetched, sum.Skips, full.Fetches, full.Fetched)
	if !sum.Verified {
		t.Errorf("resumed restore not verified")
	}
	// The resume fetched only what the disk lacked.
	if sum.Fetches < int64(len(distinct)) || sum.Fetches > int64(missing) {
		t.Errorf("resumed restore fetched %d chunks; want from %d (the distinct chunks missing) to %d (the places missing)", sum.Fetches, len(distinct), missing)
	}
	checkFilesystems(t, d, dst)
}

// TestRestoreOverOlder restores the newest capture over a disk that holds
// the previous week's: only the changed chunks move.
func TestRestoreOverOlder(t *testing.T) {
	dir := t.TempDir()
	d := linuxDisk(t, dir, 80)
	r, _ := newLocalRepo(t, 0)
	first := captureImage(t, r, d.path, "ws1")

	old := filepath.Join(t.TempDir(), "old.img")
	extract(t, d.path, 0, d.size, old)

	// Change 8 of the 80 files of the ext4 root, as a week's work would.
	root := d.parts[1]
	fsFile := filepath.Join(dir, "root.img")
	extract(t, d.path, root.off(), root.len(), fsFile)
	var script strings.Builder
	for i, n := range root.names {
		if i%10 != 3 {
			continue
		}
		p := filepath.Join(root.tree, n)
		writeRandom(t, p, randFor(uint64(i)), 2*i) // incompressible, new size
		fmt.Fprintf(&script, "cd /%s\nrm %s\nwrite %s %s\ncd /\n", filepath.Dir(n), filepath.Base(n), p, filepath.Base(n))
	}
	cmds := filepath.Join(dir, "debugfs.cmds")
	if err := os.WriteFile(cmds, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "debugfs", "-w", "-f", cmds, fsFile)
	copyInto(t, d.path, root.off(), fsFile)

	second := captureImage(t, r, d.path, "ws1")
	st := second.Stats
	t.Logf("first capture %+v; second capture %+v", first.Stats, st)

	// The chunks that changed: those of the second image that the first
	// does not have at the same place.
	changed := map[chunk.ID]bool{}
	var changedAt int64
	img1, img2 := first.Snapshot.Image, second.Snapshot.Image
	for pi, p := range img2.Disks[0].Partitions {
		was := map[int64]chunk.ID{}
		for _, c := range img1.Disks[0].Partitions[pi].Chunks {
			was[c.I] = c.ID
		}
		for _, c := range p.Chunks {
			if id, ok := was[c.I]; !ok || id != c.ID {
				changedAt++
				if !c.Zero {
					changed[c.ID] = true
				}
			}
		}
	}
	if st.NewChunks != int64(len(changed)) || st.NewBytes*100 > st.StoredBytes*60 {
		t.Errorf("re-capture stored %d new chunks, %d bytes of %d; want the %d changed chunks, far less than the whole", st.NewChunks, st.NewBytes, st.StoredBytes, len(changed))
	}

	full := filepath.Join(t.TempDir(), "full.img")
	testutil.SparseFile(t, full, d.size)
	whole, err := restoreImage(t, r, second.Snapshot, full, Options{NoVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := restoreImage(t, r, second.Snapshot, old, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restore over the older state: fetched %d bytes (%d chunks), wrote %d, skipped %d of %d used bytes; onto a blank disk: fetched %d bytes (%d chunks)",
		sum.Fetched, sum.Fetches, sum.Written, sum.Skipped, img2.UsedBytes(), whole.Fetched, whole.Fetches)
	// A changed chunk whose new content the old disk already holds (blocks
	// freed since: the new Used masks them) is not fetched either.
	if !sum.Verified || sum.Fetches == 0 || sum.Fetches > int64(len(changed)) || sum.Fetched*100 > whole.Fetched*60 {
		t.Errorf("restore over the older state fetched %d chunks, %d bytes (verified %v); want at most the %d changed chunks, far less than the %d bytes of a full restore",
			sum.Fetches, sum.Fetched, sum.Verified, len(changed), whole.Fetched)
	}
	if max := changedAt * int64(img2.ChunkSize); sum.Written-sum.Zeroed > max+2<<20 {
		t.Errorf("restore over the older state wrote %d bytes; want at most the %d changed chunks (%d bytes) and the table", sum.Written, changedAt, max)
	}
	checkFilesystems(t, d, old)
	checkUsedIdentical(t, second.Snapshot.Image, d.path, old)
}

// signal is an io.Writer that closes c at its first write.
type signal struct {
	c    chan struct{}
	once sync.Once
}

func newSignal() *signal { return &signal{c: make(chan struct{})} }

func (s *signal) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.c) })
	return len(p), nil
}

// TestSMBFaults: the NAS restarts in the middle of a restore, which then
// completes; a chunk damaged on the share stops the restore, naming it and
// where it belongs on the disk.
func TestSMBFaults(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	var retries atomic.Int64
	r := smbRepo(t, srv, "faults", &retries)
	d := win11Disk(t, t.TempDir())
	snap := captureImage(t, r, d.path, "ws1").Snapshot

	// smbd stops after the first chunk arrives and comes back once the
	// restore has reported a failed attempt and is waiting to retry.
	raw := r.Store().(*retry.Store).Unwrap()
	fetched, retried := newSignal(), newSignal()
	var notes atomic.Int64
	rs := retry.New(&slowStore{Store: raw, delay: 100 * time.Millisecond, out: fetched},
		retry.Options{Initial: 100 * time.Millisecond, Max: time.Second, MaxElapsed: time.Minute,
			Notify: func(op, name string, err error, wait time.Duration) {
				notes.Add(1)
				t.Logf("retrying %s %s after %v: %v", op, name, wait, err)
				retried.Write(nil)
			}})
	slow, err := repo.Open(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "target.img")
	testutil.SparseFile(t, dst, d.size)
	tr := progress.NewTracker()
	done := make(chan error, 1)
	var sum *Summary
	target, err := disk.OpenWrite(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		var err error
		sum, err = Restore(context.Background(), slow, snap, []Target{target}, Options{Fetches: 2, Progress: tr})
		done <- err
	}()
	select {
	case <-fetched.c:
	case err := <-done:
		t.Fatalf("Restore ended before its first chunk arrived: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-retried.c:
	case err := <-done:
		t.Fatalf("Restore with smbd stopped ended without a retry: %v", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Restore across an smbd restart = %v", err)
	}
	if !sum.Verified {
		t.Errorf("Restore across an smbd restart after %d retries: not verified", notes.Load())
	}
	checkFilesystems(t, d, dst)

	// Damage a chunk of the NTFS data partition on the share.
	p := snap.Image.Disks[0].Partitions[2]
	var c repo.ChunkRef
	for _, c = range p.Chunks {
		if !c.Zero {
			break
		}
	}
	damageChunk(t, r, filepath.Join(srv.ShareDir, "faults"), snap.Image, c)
	blank := filepath.Join(t.TempDir(), "blank.img")
	testutil.SparseFile(t, blank, d.size)
	sum, err = restoreImage(t, r, snap, blank, Options{})
	off := fmt.Sprintf("offset %d", p.Offset+c.I*int64(snap.Image.ChunkSize))
	if !errors.Is(err, chunk.ErrCorrupt) || !strings.Contains(err.Error(), c.ID.String()) || !strings.Contains(err.Error(), off) {
		t.Fatalf("Restore(damaged chunk) = %v; want chunk.ErrCorrupt naming chunk %s and %s", err, c.ID, off)
	}
	if sum != nil && sum.Verified {
		t.Errorf("Restore(damaged chunk) reports a verified restore")
	}
	t.Logf("damaged chunk: %v", err)
}
