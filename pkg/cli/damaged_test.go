// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

// heads returns the repository's snapshot heads, oldest first.
func heads(t *testing.T, dir string) []repo.Head {
	t.Helper()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := r.Heads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRestoreDamagedLatest: with the newest image of a machine damaged,
// restore and verify of "latest" refuse, naming it and what to do, rather
// than putting back the image before it; naming it says it is damaged; the
// listings show it as damaged and exit 3.
func TestRestoreDamagedLatest(t *testing.T) {
	dir := t.TempDir()
	src := testutil.SampleDisk(t, 32<<20)
	repoDir := filepath.Join(dir, "repo")
	os.Mkdir(repoDir, 0o755)
	if _, errs, code := runIn(t, "", "init", "--repo", repoDir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	for range 2 {
		if _, errs, code := runIn(t, "", "capture", "--repo", repoDir, "--machine", "ws1", src); code != 0 {
			t.Fatalf("capture: %s", errs)
		}
	}
	hs := heads(t, repoDir)
	if len(hs) != 2 {
		t.Fatalf("%d snapshots after two captures, want 2", len(hs))
	}
	older, newest := hs[0].ID.String()[:8], hs[1].ID.String()[:8]
	if err := os.Truncate(filepath.Join(repoDir, "snapshots", hs[1].ID.String()), 500); err != nil {
		t.Fatal(err)
	}
	blank := filepath.Join(dir, "blank.img")
	testutil.SparseFile(t, blank, 32<<20)
	blankHash := testutil.FileHash(t, blank)

	out, errs, code := runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", "--json", blank)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res restoreJSON
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || code == 0 || res.OK {
		t.Fatalf("restore --json of a damaged latest = exit %d, %+v (%v); want a failure result", code, res, err)
	}
	for _, want := range []string{newest, "--image", "rewind check"} {
		if !strings.Contains(res.Error, want) {
			t.Errorf("restore of a damaged latest: error %q does not say %q", res.Error, want)
		}
	}
	if testutil.FileHash(t, blank) != blankHash {
		t.Errorf("the refused restore wrote to its target")
	}
	if _, errs, code = runIn(t, "", "verify", "--repo", repoDir, "--machine", "ws1", blank); code == 0 || !strings.Contains(errs, newest) {
		t.Errorf("verify against a damaged latest = exit %d, %q; want a refusal naming %s", code, errs, newest)
	}
	_, errs, code = runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", "--image", newest, blank)
	if code == 0 || !strings.Contains(errs, "damaged") || strings.Contains(errs, "no image") {
		t.Errorf("restore --image of the damaged one = exit %d, %q; want it called damaged", code, errs)
	}

	for _, verb := range []string{"images", "snapshots"} {
		out, errs, code := runIn(t, "", verb, "--repo", repoDir)
		if code != 3 || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, newest) || !strings.Contains(out, older) {
			t.Errorf("%s = exit %d, %q %q; want both listed, %s as DAMAGED, exit 3", verb, code, out, errs, newest)
		}
	}
	out, _, code = runIn(t, "", "images", "--repo", repoDir, "--json")
	var listed imagesResult
	err := json.Unmarshal([]byte(out), &listed)
	imgs := listed.Machines
	if err != nil || code != 3 || listed.OK || len(imgs["ws1"]) != 2 || imgs["ws1"][1].Damaged == "" || imgs["ws1"][0].Damaged != "" {
		t.Errorf("images --json = exit %d, %s (%v); want ws1's newer image marked damaged", code, out, err)
	}

	// Named, the older image restores.
	if out, errs, code := runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", "--image", older, blank); code != 0 {
		t.Errorf("restore --image %s = exit %d, %q %q", older, code, out, errs)
	}
	if testutil.FileHash(t, blank) != testutil.FileHash(t, src) {
		t.Errorf("the restored disk differs from the captured one")
	}
}

// TestCorruptChunkAdvice: a restore that meets a corrupt chunk advises the
// check that finds it: 'rewind check' reads no chunk content, so it must
// say --read-data.
func TestCorruptChunkAdvice(t *testing.T) {
	dir := t.TempDir()
	src := testutil.SampleDisk(t, 32<<20)
	repoDir := filepath.Join(dir, "repo")
	os.Mkdir(repoDir, 0o755)
	if _, errs, code := runIn(t, "", "init", "--repo", repoDir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	if _, errs, code := runIn(t, "", "capture", "--repo", repoDir, "--machine", "ws1", src); code != 0 {
		t.Fatalf("capture: %s", errs)
	}
	files, err := filepath.Glob(filepath.Join(repoDir, "packs", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	// Every stored chunk, so that whichever the restore reads first (the
	// partition table's or a partition's) is corrupt: flip a byte in the
	// middle of every 4 KiB of the packs' blobs (the trailer left as it is).
	// Not the pack of the image's chunk lists: that would make the image
	// damaged as a whole, which 'rewind check' finds (TestRestoreDamagedLatest).
	lists := listPacks(t, repoDir)
	var corrupted []string
	for _, f := range files {
		if lists[filepath.Base(f)] {
			continue
		}
		if fi, err := os.Stat(f); err == nil && fi.Size() > 64 {
			b, _ := os.ReadFile(f)
			n, err := pack.TrailerLen(b[len(b)-pack.FooterSize:], int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			for i := 2048; i < len(b)-pack.FooterSize-n; i += 4096 {
				b[i] ^= 0xff
			}
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			corrupted = append(corrupted, filepath.Base(f))
		}
	}
	if len(corrupted) == 0 {
		t.Fatal("no chunk to corrupt")
	}
	blank := filepath.Join(dir, "blank.img")
	testutil.SparseFile(t, blank, 32<<20)
	_, errs, code := runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", blank)
	if code == 0 || !strings.Contains(errs, "rewind check --read-data") {
		t.Errorf("restore over a corrupt chunk = exit %d, %q; want advice to run 'rewind check --read-data'", code, errs)
	}
	// The advice is sound: --read-data finds them.
	if out, _, code := runIn(t, "", "check", "--repo", repoDir, "--read-data"); code != 3 || !strings.Contains(out, corrupted[0]) {
		t.Errorf("check --read-data = exit %d, %q; want exit 3 naming the corrupt chunk", code, out)
	}
}

// listPacks names the packs that hold the chunk lists of the repository's
// images.
func listPacks(t *testing.T, dir string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := r.Snapshots(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := make(map[string]bool)
	for _, sn := range snaps {
		for _, l := range sn.Image.Lists {
			names[sn.Image.Packs[l.Pack-1].String()] = true
		}
	}
	return names
}
