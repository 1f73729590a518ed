// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// TestCaptureMounted: a disk whose filesystem is mounted is not imaged
// (the image would be inconsistent) unless --force; inspect says that a
// capture would be refused, and why, through the same check.
func TestCaptureMounted(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "losetup", "mkfs.ext4", "mount", "umount")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	if err := os.Mkdir(repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := runIn(t, "", "init", "--repo", repoDir, "--chunk-size", "65536"); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	img := filepath.Join(dir, "disk.img")
	testutil.SparseFile(t, img, 32<<20)
	dev := strings.TrimSpace(inspectRun(t, "", "losetup", "--find", "--show", img))
	t.Cleanup(func() { inspectRun(t, "", "losetup", "-d", dev) })
	inspectRun(t, "", "mkfs.ext4", "-q", "-F", dev)
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	inspectRun(t, "", "mount", dev, mnt)
	mounted := true
	unmount := func() {
		if mounted {
			mounted = false
			inspectRun(t, "", "umount", mnt)
		}
	}
	t.Cleanup(unmount)

	for _, p := range []string{dev, img} {
		out, errs, code := runIn(t, "", "capture", "--json", "--repo", repoDir, "--machine", "ws1", p)
		res := resultLines(t, out)
		if code != 1 || len(res) != 1 || res[0].OK {
			t.Fatalf("capture of mounted %s = %d, %q %q; want a refusal", p, code, out, errs)
		}
		for _, want := range []string{"capture refused", "is mounted at " + mnt, "rewind stick", "--force"} {
			if !strings.Contains(res[0].Error, want) {
				t.Errorf("capture of mounted %s: error %q, want %q in it", p, res[0].Error, want)
			}
		}
	}
	if out, _, _ := runIn(t, "", "images", "--repo", repoDir); !strings.Contains(out, "no images") {
		t.Fatalf("after refused captures, images = %q; want none", out)
	}

	out, errs, code := runIn(t, "", "inspect", dev)
	if code != 0 || !strings.Contains(out, "A capture of this disk would be refused: "+dev+" is mounted at "+mnt) || strings.Contains(out, "A capture would read") {
		t.Errorf("inspect of mounted %s = %d, %q %q; want it to say a capture would be refused, and why", dev, code, out, errs)
	}
	out, _, _ = runIn(t, "", "inspect", "--json", dev)
	var rep inspectReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.OK || !strings.Contains(rep.CaptureRefused, "is mounted at "+mnt) {
		t.Errorf("inspect --json of mounted %s = %q (%v); want capture_refused naming the mount", dev, out, err)
	}

	out, errs, code = runIn(t, "", "capture", "--json", "--force", "--repo", repoDir, "--machine", "ws1", dev)
	var forced captureJSON
	if err := json.Unmarshal([]byte(lastLine(out)), &forced); err != nil || code != 0 || !forced.OK ||
		len(forced.Warnings) == 0 || !strings.Contains(forced.Warnings[0], "imaging it anyway") || !strings.Contains(errs, "warning: "+dev+" is mounted") {
		t.Errorf("capture --force of mounted %s = %d, %q %q; want an image and a warning", dev, code, out, errs)
	}

	unmount()
	out, _, _ = runIn(t, "", "inspect", dev)
	if !strings.Contains(out, "A capture would read") || strings.Contains(out, "refused") {
		t.Errorf("inspect of unmounted %s = %q; want what a capture would read", dev, out)
	}
	if out, errs, code := runIn(t, "", "capture", "--repo", repoDir, "--machine", "ws1", dev); code != 0 || strings.Contains(errs, "warning") {
		t.Errorf("capture of unmounted %s = %d, %q %q; want an image, no warning", dev, code, out, errs)
	}
}
