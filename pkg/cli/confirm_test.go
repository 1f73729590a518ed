// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// TestConfirmTwoDisks: the names of two targets typed back on piped input,
// one per line, confirm both; the first answer's reader must not swallow
// the second.
func TestConfirmTwoDisks(t *testing.T) {
	dir := t.TempDir()
	src1 := testutil.SampleDisk(t, 16<<20)
	src2 := testutil.SampleDisk(t, 16<<20)
	repoDir := filepath.Join(dir, "repo")
	if _, errs, code := runIn(t, "", "init", "--repo", repoDir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	if _, errs, code := runIn(t, "", "capture", "--repo", repoDir, "--machine", "ws1", src1, src2); code != 0 {
		t.Fatalf("capture of two disks: %s", errs)
	}
	one, two := filepath.Join(dir, "one.img"), filepath.Join(dir, "two.img")
	testutil.SparseFile(t, one, 16<<20)
	testutil.SparseFile(t, two, 16<<20)
	out, errs, code := runIn(t, "one.img\ntwo.img\n", "restore", "--repo", repoDir, "--machine", "ws1", one, two)
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("restore of two disks, both names typed back = exit %d, %q %q", code, out, errs)
	}
	for _, p := range [][2]string{{src1, one}, {src2, two}} {
		if testutil.FileHash(t, p[0]) != testutil.FileHash(t, p[1]) {
			t.Errorf("%s differs from %s after the restore", p[1], p[0])
		}
	}
}
