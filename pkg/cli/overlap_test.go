// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// TestOverlappingPartitionsRoundTrip: a disk whose MBR partitions overlap
// is captured and restored exactly as it is, and capture and inspect warn.
func TestOverlappingPartitionsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	testutil.SparseFile(t, src, 32<<20)
	inspectRun(t, "label: dos\nstart=2048, size=20480, type=83\nstart=22528, size=20480, type=83\n",
		"sfdisk", "--no-reread", "--no-tell-kernel", "-q", src)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// sfdisk refuses overlaps: move partition 2 back to sector 12288 in
	// the MBR's own bytes, so that it shares 10240 sectors with partition 1.
	binary.LittleEndian.PutUint32(b[446+16+8:], 12288)
	binary.LittleEndian.PutUint32(b[446+16+12:], 30720)
	r := rand.New(rand.NewPCG(7, 8))
	for i := 2048 * 512; i < (12288+30720)*512; i++ {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	const warn = "partitions 1 and 2 overlap (sectors 12288..22527"

	out, errs, code := runIn(t, "", "inspect", src)
	if code != 0 || !strings.Contains(out, "warning: "+warn) {
		t.Errorf("inspect of overlapping partitions = %d, %q %q; want a warning", code, out, errs)
	}
	repoDir := filepath.Join(dir, "repo")
	if err := os.Mkdir(repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := runIn(t, "", "init", "--repo", repoDir, "--chunk-size", "65536"); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	out, errs, code = runIn(t, "", "capture", "--json", "--repo", repoDir, "--machine", "ws1", src)
	if code != 0 || !strings.Contains(out, warn) {
		t.Fatalf("capture of overlapping partitions = %d, %q %q; want an image and a warning", code, out, errs)
	}
	dst := filepath.Join(dir, "dst.img")
	testutil.SparseFile(t, dst, 32<<20)
	if out, errs, code := runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", dst); code != 0 {
		t.Fatalf("restore of overlapping partitions = %d, %q %q", code, out, errs)
	}
	if testutil.FileHash(t, dst) != testutil.FileHash(t, src) {
		t.Errorf("the restored disk differs from the captured one")
	}
}
