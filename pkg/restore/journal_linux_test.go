// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// mountPart loop-mounts partition p of the disk image at path with mount
// options opt and returns the mount point and a function that unmounts it
// (also run at the end of the test).
func mountPart(t *testing.T, path string, p builtPart, opt string) (string, func()) {
	t.Helper()
	mnt := t.TempDir()
	opts := fmt.Sprintf("loop,offset=%d,sizelimit=%d,%s", p.off(), p.len(), opt)
	run(t, "mount", "-o", opts, path, mnt)
	mounted := true
	unmount := func() {
		if !mounted {
			return
		}
		run(t, "umount", mnt)
		mounted = false
		testutil.WaitLoopDetached(t, path)
	}
	t.Cleanup(unmount)
	return mnt, unmount
}

// kernelWeek writes files into the ext4 root of d through a loop mount,
// so that the kernel's journal records the changes (their data too:
// data=journal fills the log as a busy week would): n files rewritten, n
// added. The root's tree and names follow.
func kernelWeek(t *testing.T, d *testDisk, week, n int) {
	t.Helper()
	root := &d.parts[1]
	mnt, unmount := mountPart(t, d.path, *root, "data=journal")
	for i := range n {
		old := root.names[(week*7+i*3)%len(root.names)]
		name := fmt.Sprintf("week%d-%02d.bin", week, i)
		root.names = append(root.names, name)
		for _, f := range []string{old, name} {
			writeRandom(t, filepath.Join(root.tree, f), randFor(uint64(week*100+i)), i)
			b, err := os.ReadFile(filepath.Join(root.tree, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mnt, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(t, "sync")
	unmount()
}

// zeroedOf returns the zeroed ranges of image partition p in disk offsets.
func zeroedOf(p *repo.Partition) []repo.Extent {
	var out []repo.Extent
	for _, z := range p.Zeroed {
		out = append(out, repo.Extent{Off: p.Offset + z.Off, Len: z.Len})
	}
	return out
}

// nonZero counts the bytes of ranges ext of the file at path that are not
// zero.
func nonZero(t *testing.T, path string, ext []repo.Extent) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	for _, e := range ext {
		b := make([]byte, e.Len)
		if _, err := f.ReadAt(b, e.Off); err != nil {
			t.Fatal(err)
		}
		for _, c := range b {
			if c != 0 {
				n++
			}
		}
	}
	return n
}

// garbageDisk makes a file of size bytes of random bytes: a disk that held
// something else, journal blocks of another filesystem included.
func garbageDisk(t *testing.T, size int64, seed uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "garbage.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := randFor(seed)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		for i := 0; i < len(buf); i += 8 {
			v := r.Uint64()
			for k := range 8 {
				buf[i+k] = byte(v >> (8 * k))
			}
		}
		if _, err := f.WriteAt(buf[:min(int64(len(buf)), size-off)], off); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// checkRestoredRoot checks the ext4 root of a restored disk as the
// technician's machine would use it: its journal's log reads as zeros,
// e2fsck finds it clean, the files read back through debugfs and through
// a loop mount of the kernel's ext4, and Verify agrees.
func checkRestoredRoot(t *testing.T, d *testDisk, img *repo.Image, dst string) {
	t.Helper()
	p := &img.Disks[0].Partitions[1]
	if n := nonZero(t, dst, zeroedOf(p)); n != 0 {
		t.Errorf("after the restore %d bytes of the journal's log are not zero", n)
	}
	checkFilesystems(t, d, dst)
	root := d.parts[1]
	mnt, unmount := mountPart(t, dst, root, "ro")
	for _, n := range root.names {
		got, err := os.ReadFile(filepath.Join(mnt, n))
		if err != nil {
			t.Errorf("restored root mounted: %v", err)
			continue
		}
		want, err := os.ReadFile(filepath.Join(root.tree, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("restored root mounted: %s differs (%d bytes, want %d)", n, len(got), len(want))
		}
	}
	unmount()
	target, err := disk.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if _, err := Verify(context.Background(), img, []Source{target}, VerifyOptions{}); err != nil {
		t.Errorf("Verify(restored disk) = %v", err)
	}
}

// snapshotTree copies d's root tree and names as they are now.
func snapshotTree(t *testing.T, d *testDisk) *testDisk {
	t.Helper()
	c := *d
	c.parts = append([]builtPart(nil), d.parts...)
	root := &c.parts[1]
	root.names = append([]string(nil), root.names...)
	root.tree = filepath.Join(t.TempDir(), "tree")
	run(t, "cp", "-a", d.parts[1].tree, root.tree)
	return &c
}

// TestJournalZeroed captures an ext4 whose journal the kernel wrote (two
// weeks of changes through a loop mount) and restores it onto a disk of
// garbage, and last week's image over this week's disk: the journal's log
// is neither read nor stored, every restore leaves zeros there (no stale
// transaction a later recovery could replay), and the filesystem is clean
// and holds the files.
func TestJournalZeroed(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "mount", "umount", "e2fsck", "debugfs", "cp")
	ctx := context.Background()
	d := linuxDisk(t, t.TempDir(), 12)
	kernelWeek(t, d, 1, 12)
	week1 := snapshotTree(t, d)
	r, repoDir := newLocalRepo(t, 0)
	first := captureImage(t, r, d.path, "ws1")
	img1 := first.Snapshot.Image
	p := &img1.Disks[0].Partitions[1]
	if p.FS != "ext4" || p.ZeroedBytes() < 1<<20 {
		t.Fatalf("partition 2: fs %q, %d bytes zeroed (capture's warnings: %q); want ext4 with its journal's log zeroed", p.FS, p.ZeroedBytes(), first.Warnings)
	}
	written := nonZero(t, d.path, zeroedOf(p))
	if written == 0 {
		t.Fatal("the kernel left the journal's log blank; the test needs transactions there")
	}
	t.Logf("journal log: %d bytes zeroed, %d of them non-zero on the source", p.ZeroedBytes(), written)

	// Not read, not stored: the chunks inside the log are zero chunks, and
	// a capture that images the journal stores that many more.
	cs := int64(img1.ChunkSize)
	var inside int
	for _, c := range p.Chunks {
		if len(p.Data(p.Range(c.I, img1.ChunkSize))) == 0 {
			inside++
			if !c.Zero {
				t.Errorf("chunk %d lies in the journal's log but is stored", c.I)
			}
		}
	}
	if u := img1.UsedBytes() - img1.ZeroedBytes(); first.Stats.ReadBytes > u+u/20 {
		t.Errorf("capture read %d bytes; want about the used bytes less the zeroed ones, %d", first.Stats.ReadBytes, u)
	}
	whole, _ := newLocalRepo(t, 0)
	src, err := disk.Open(d.path)
	if err != nil {
		t.Fatal(err)
	}
	imaged, err := capture.Capture(ctx, whole, []capture.Source{src}, capture.Options{Machine: "ws1",
		Map: func(ctx context.Context, r io.ReaderAt, size int64) (*blockmap.Map, error) {
			m, err := blockmap.Read(ctx, r, size, blockmap.Options{})
			if m != nil {
				m.Zeroed, m.Summary.ZeroedBytes = nil, 0 // the journal imaged as before
			}
			return m, err
		}})
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stored: %d bytes in %d chunks; with the journal imaged %d bytes in %d chunks (%d chunks lie in the log)",
		first.Stats.NewBytes, first.Stats.NewChunks, imaged.Stats.NewBytes, imaged.Stats.NewChunks, inside)
	if minMore := written / cs / 2; imaged.Stats.NewChunks-first.Stats.NewChunks < minMore || first.Stats.NewBytes >= imaged.Stats.NewBytes {
		t.Errorf("zeroing the log saved %d chunks, %d bytes; want at least %d chunks (the log held %d non-zero bytes)",
			imaged.Stats.NewChunks-first.Stats.NewChunks, imaged.Stats.NewBytes-first.Stats.NewBytes, minMore, written)
	}

	// Verify of the source disk itself: its log differs, and says why.
	src, err = disk.Open(d.path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(ctx, img1, []Source{src}, VerifyOptions{})
	src.Close()
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "journal") {
		t.Errorf("Verify(the captured disk, its journal written) = %v; want ErrMismatch that names the journal", err)
	}

	// Week 2, and its image.
	lastWeek := filepath.Join(t.TempDir(), "week1.img")
	extract(t, d.path, 0, d.size, lastWeek)
	kernelWeek(t, d, 2, 8)
	second := captureImage(t, r, d.path, "ws1")
	img2 := second.Snapshot.Image

	t.Run("onto garbage", func(t *testing.T) {
		dst := garbageDisk(t, d.size, 5)
		sum, err := restoreImage(t, r, second.Snapshot, dst, Options{})
		if err != nil {
			t.Fatalf("Restore = %v", err)
		}
		if sum.Zeroed < img2.Disks[0].Partitions[1].ZeroedBytes() {
			t.Errorf("restore wrote %d bytes of zeros, want at least the journal's log, %d", sum.Zeroed, img2.Disks[0].Partitions[1].ZeroedBytes())
		}
		checkRestoredRoot(t, d, img2, dst)
	})
	t.Run("last week over this week", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "now.img")
		extract(t, d.path, 0, d.size, dst)
		p2 := &img2.Disks[0].Partitions[1]
		if nonZero(t, dst, zeroedOf(p2)) == 0 {
			t.Fatal("this week's journal log is blank; the test needs its transactions on the target")
		}
		if _, err := restoreImage(t, r, first.Snapshot, dst, Options{}); err != nil {
			t.Fatalf("Restore = %v", err)
		}
		checkRestoredRoot(t, week1, img1, dst)
	})
	t.Run("over last week's disk, as it was", func(t *testing.T) {
		if _, err := restoreImage(t, r, second.Snapshot, lastWeek, Options{}); err != nil {
			t.Fatalf("Restore = %v", err)
		}
		checkRestoredRoot(t, d, img2, lastWeek)
	})
	t.Run("resume after kill", func(t *testing.T) {
		// The helper restores ws1's latest (week 2) and stops fetching
		// after a few chunks; killed, the target holds part of it.
		dst := garbageDisk(t, d.size, 6)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("REWIND_TEST_RESTORE=%s %s %d", repoDir, dst, 8))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stop := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
		defer stop.Stop()
		sc := bufio.NewScanner(stdout)
		for n := 0; n < 4 && sc.Scan(); {
			if sc.Text() == "written" {
				n++
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		target, err := disk.Open(dst)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(ctx, img2, []Source{target}, VerifyOptions{})
		target.Close()
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify(killed restore's target) = %v, want ErrMismatch: the kill came too late to test a resume", err)
		}
		if _, err := restoreImage(t, r, second.Snapshot, dst, Options{}); err != nil {
			t.Fatalf("Restore after the kill = %v", err)
		}
		checkRestoredRoot(t, d, img2, dst)
	})
}
