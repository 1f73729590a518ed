// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package testutil

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// WaitLoopDetached waits until no loop device is attached to the file at
// path, after a filesystem that `mount -o loop` set up over it was
// unmounted. umount can return before the loop device lets go of the file,
// and a read of the file in between was seen to miss the filesystem's last
// write (its superblock still said its journal needed recovery). It fails
// t after a minute.
func WaitLoopDetached(t testing.TB, path string) {
	t.Helper()
	losetup := NeedTool(t, "losetup")[0]
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, losetup, "-j", path).Output()
		cancel()
		if err != nil {
			t.Fatalf("losetup -j %s: %v", path, err)
		}
		if strings.TrimSpace(string(out)) == "" {
			return
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("%s is still attached to a loop device a minute after its filesystem was unmounted: %s", path, out)
		}
	}
}
