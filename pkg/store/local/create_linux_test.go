// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package local

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// TestCreateOnMountedDisk: a freshly formatted disk mounted in a mount
// point is empty too; Create tells it from a missing mount and uses it.
func TestCreateOnMountedDisk(t *testing.T) {
	testutil.NeedRoot(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	usb := filepath.Join(mnt, "usb")
	if err := os.MkdirAll(usb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", usb, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mounting a tmpfs on %s: %v", usb, err)
	}
	t.Cleanup(func() { unix.Unmount(usb, unix.MNT_DETACH) })
	if !mountPoint(usb) {
		t.Fatalf("mountPoint(%s) = false for a mounted tmpfs", usb)
	}
	dir := filepath.Join(usb, "rewind")
	if _, err := create(dir, []string{mnt}); err != nil {
		t.Fatalf("create(%s) on a mounted, empty disk = %v, want a store", dir, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Errorf("the folder %s is not on the mounted disk (statfs: %v, type %#x)", dir, err, st.Type)
	}
}
