// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/progress"
)

// TestRestoreToBlockDevice restores onto a real block device (a loop
// device with partition scanning): the kernel sees the new partitions, the
// filesystems pass fsck read through them, and ZeroUnused wipes the unused
// blocks with the device's zeroing ioctl.
func TestRestoreToBlockDevice(t *testing.T) {
	testutil.NeedRoot(t)
	d := linuxDisk(t, t.TempDir(), 8)
	r, _ := newLocalRepo(t, 0)
	snap := captureImage(t, r, d.path, "ws1").Snapshot

	backing := filepath.Join(t.TempDir(), "backing.img")
	testutil.SparseFile(t, backing, d.size)
	// Old contents everywhere: ZeroUnused must clear them from unused blocks.
	old := []byte(strings.Repeat("old data ", 1<<16))
	for off := int64(1 << 20); off < d.size-int64(len(old)); off += 4 << 20 {
		testutil.PatchFile(t, backing, off, old)
	}
	dev := strings.TrimSpace(run(t, "losetup", "-P", "-f", "--show", backing))
	t.Cleanup(func() { tryRun(t, "losetup", "-d", dev) })

	if err := disk.CheckWritable(dev); err != nil {
		t.Fatalf("CheckWritable(%s) = %v, want nil for an unused loop device", dev, err)
	}
	target, err := disk.OpenWrite(dev)
	if err != nil {
		t.Fatal(err)
	}
	tr := progress.NewTracker()
	sum, err := Restore(context.Background(), r, snap, []Target{target}, Options{ZeroUnused: true, Progress: tr})
	target.Close()
	if err != nil || !sum.Verified {
		t.Fatalf("Restore(%s) = %+v, %v; want verified", dev, sum, err)
	}
	if notes := tr.Status().Notes; len(notes) > 0 {
		t.Errorf("Restore(%s) noted %q; want no trouble re-reading the table or dropping the cache", dev, notes)
	}
	t.Logf("restored onto %s: %+v", dev, *sum)

	if got, want := strings.ReplaceAll(tableDump(t, dev), "DISKp", "DISK"), tableDump(t, d.path); got != want {
		t.Errorf("partition table of %s:\n%s\nwant:\n%s", dev, got, want)
	}
	// The kernel re-read the table: the partitions are devices now (where
	// the kernel scans loop devices for partitions at all).
	name := filepath.Base(dev)
	first := filepath.Join("/sys/block", name, name+"p1")
	deadline := time.Now().Add(2 * time.Second)
	for _, err := os.Stat(first); err != nil && time.Now().Before(deadline); _, err = os.Stat(first) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(first); err != nil {
		t.Logf("the kernel shows no partitions of %s (%v): this kernel does not scan loop devices; checking the filesystems through the backing file only", dev, err)
	} else {
		for _, p := range d.parts {
			part := dev + "p" + itoa(int64(p.index))
			switch p.fs {
			case "ext4":
				run(t, "e2fsck", "-fn", part)
			case "vfat":
				run(t, "fsck.fat", "-n", part)
			}
		}
	}
	checkFilesystems(t, d, backing)
	// No old data is left in the partitions' unused blocks.
	b, err := os.ReadFile(backing)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.parts {
		if n := strings.Count(string(b[p.off():p.off()+p.len()]), "old data "); n > 0 {
			t.Errorf("partition %d still holds %d pieces of old data after ZeroUnused", p.index, n)
		}
	}
}
