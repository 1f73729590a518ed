// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// TestCaptureTooLargeRefusedFirst: in a format-1 repository, an image
// whose manifest would pass the snapshot size bound is refused after the
// layout is planned, before any data is read or stored, with what to do
// about it. (Format 2 cuts such an image into larger chunks instead.)
func TestCaptureTooLargeRefusedFirst(t *testing.T) {
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	if _, errs, code := run(t, nil, "init", "--repo", repoDir, "--format", "1", "--chunk-size", "65536"); code != 0 {
		t.Fatalf("init = %d, %q", code, errs)
	}
	// 40 GiB with no partition table is imaged raw: 655,360 chunks of
	// 64 KiB, a manifest of about 60 MiB.
	count := func(sub string) int {
		n := 0
		filepath.WalkDir(filepath.Join(repoDir, sub), func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	before := map[string]int{"snapshots": count("snapshots"), "chunks": count("chunks")}
	img := filepath.Join(dir, "big.img")
	testutil.SparseFile(t, img, 40<<30)
	_, errs, code := run(t, nil, "capture", "--repo", repoDir, "--machine", "big", img)
	if code != 1 || !strings.Contains(errs, "too many chunks") || !strings.Contains(errs, "--chunk-size") {
		t.Fatalf("capture of 40 GiB at 64 KiB chunks = exit %d, %q; want a refusal saying to use a larger --chunk-size", code, errs)
	}
	for sub, n := range before {
		if got := count(sub); got != n {
			t.Errorf("the refused capture left %d new files under %s, want none", got-n, sub)
		}
	}
}
