// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

func runIn(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), args, OS{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		fmt.Fprintf(&stderr, "rewind: %v\n", err)
	}
	return stdout.String(), stderr.String(), ExitCode(err)
}

func TestCaptureRestoreCommands(t *testing.T) {
	dir := t.TempDir()
	src := testutil.SampleDisk(t, 32<<20)
	repoDir := filepath.Join(dir, "repo")
	os.Mkdir(repoDir, 0o755)
	if _, errs, code := runIn(t, "", "init", "--repo", repoDir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	out, errs, code := runIn(t, "", "capture", "--repo", repoDir, "--machine", "ws1", "--note", "weekly", src)
	if code != 0 || !strings.Contains(out, "image ") {
		t.Fatalf("capture = %d, %q %q", code, out, errs)
	}
	out, _, code = runIn(t, "", "images", "--repo", repoDir)
	if code != 0 || !strings.Contains(out, "ws1: 1 images") || !strings.Contains(out, "weekly") {
		t.Errorf("images = %d, %q", code, out)
	}

	blank := filepath.Join(dir, "blank.img")
	small := filepath.Join(dir, "small.img")
	testutil.SparseFile(t, blank, 32<<20)
	testutil.SparseFile(t, small, 20<<20)
	blankHash, smallHash := testutil.FileHash(t, blank), testutil.FileHash(t, small)

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
		code  int
	}{
		{"wrong confirmation", "sda\n", []string{blank}, `confirmation "sda" does not match "blank.img"`, 1},
		{"no confirmation", "", []string{blank}, "no confirmation given", 1},
		{"too small", "", []string{"--yes", small}, "too small", 1},
		{"unknown machine", "", []string{"--yes", "--machine", "nobody", blank}, `machine "nobody" has no image`, 1},
		{"unknown image", "", []string{"--yes", "--image", "abcdef12", blank}, `no image "abcdef12"`, 1},
		{"not a disk", "", []string{"--yes", dir}, "neither a disk nor a disk image file", 1},
		{"missing target", "", []string{"--yes", filepath.Join(dir, "nope.img")}, "nope.img", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"restore", "--repo", repoDir, "--machine", "ws1"}, tc.args...)
			// A later --machine wins over the first.
			out, errs, code := runIn(t, tc.stdin, args...)
			if code != tc.code {
				t.Errorf("restore %v = exit %d, want %d (%q)", tc.args, code, tc.code, errs)
			}
			if !strings.Contains(lastLine(errs), tc.want) {
				t.Errorf("restore %v error = %q, want %q", tc.args, lastLine(errs), tc.want)
			}
			if strings.Contains(out, "verified") {
				t.Errorf("restore %v reported success: %q", tc.args, out)
			}
		})
	}
	if testutil.FileHash(t, blank) != blankHash || testutil.FileHash(t, small) != smallHash {
		t.Fatalf("a refused restore changed its target")
	}

	// Typed back correctly, the restore runs, and the disk is identical.
	out, errs, code = runIn(t, "blank.img\n", "restore", "--repo", repoDir, "--machine", "ws1", blank)
	// A blank target is written without comparing first, and read back
	// whole.
	if code != 0 || !strings.Contains(out, "0 B already in place") || !strings.Contains(out, "verified: every chunk read back from the disk matches the image") {
		t.Fatalf("restore with the name typed back = %d, %q %q", code, out, errs)
	}
	// Again: the disk holds the image; nothing is written, what is there
	// was checked in place, and nothing needs reading back.
	out, errs, code = runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", blank)
	if code != 0 || !strings.Contains(out, "0 B written") || !strings.Contains(out, "read back intact (what was written, and the partition table's area); what was already there was read and checked before writing") {
		t.Fatalf("restore over the restored disk = %d, %q %q", code, out, errs)
	}
	out, errs, code = runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", "--verify", "full", blank)
	if code != 0 || !strings.Contains(out, "verified: every chunk read back from the disk matches the image") {
		t.Fatalf("restore --verify full = %d, %q %q", code, out, errs)
	}
	_, errs, code = runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", "--verify", "some", blank)
	if code == 0 || !strings.Contains(errs, `--verify "some": say written or full`) {
		t.Fatalf("restore --verify some = %d, %q; want a usage error", code, errs)
	}
	if testutil.FileHash(t, blank) != testutil.FileHash(t, src) {
		t.Errorf("the restored disk differs from the captured one")
	}
	out, _, code = runIn(t, "", "verify", "--repo", repoDir, "--machine", "ws1", blank)
	if code != 0 || !strings.Contains(out, "verified: the disks match") {
		t.Errorf("verify = %d, %q", code, out)
	}

	// --report leaves a report in the repository, for success and failure.
	if _, errs, code := runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", "--report", blank); code != 0 || !strings.Contains(errs, "report saved as reports/ws1/") {
		t.Errorf("restore --report = %d, %q; want a report saved", code, errs)
	}
	if _, errs, code := runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", "--report", "--image", "ffffffff", blank); code == 0 || !strings.Contains(errs, "report saved") {
		t.Errorf("failing restore --report = %d, %q; want a failure and a report", code, errs)
	}
	reps, err := filepath.Glob(filepath.Join(repoDir, "reports", "ws1", "*-restore-*.json"))
	if err != nil || len(reps) != 2 {
		t.Fatalf("reports on disk = %v, %v; want 2", reps, err)
	}
	var good, bad struct {
		OK     bool   `json:"ok"`
		Error  string `json:"error"`
		Result struct {
			Verified bool `json:"verified"`
		} `json:"result"`
	}
	for _, p := range reps {
		b, _ := os.ReadFile(p)
		var r struct {
			OK bool `json:"ok"`
		}
		json.Unmarshal(b, &r)
		if r.OK {
			json.Unmarshal(b, &good)
		} else {
			json.Unmarshal(b, &bad)
		}
	}
	if !good.OK || !good.Result.Verified || bad.OK || !strings.Contains(bad.Error, "ffffffff") {
		t.Errorf("reports = good %+v, bad %+v; want a verified success and a failure naming the image", good, bad)
	}

	// --json: progress lines, then one result line.
	out, _, code = runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", "--json", blank)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res restoreJSON
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || code != 0 || !res.OK || !res.Verified || res.Fetched != 0 {
		t.Errorf("restore --json over an identical disk = %d, %+v (%v); want ok, verified, nothing fetched", code, res, err)
	}
	out, _, code = runIn(t, "", "restore", "--repo", repoDir, "--machine", "ws1", "--yes", "--json", small)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	res = restoreJSON{}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || code == 0 || res.OK || !strings.Contains(res.Error, "too small") {
		t.Errorf("restore --json onto a small disk = %d, %+v (%v); want a failure result", code, res, err)
	}

	// A damaged target: verify says so and exits 3.
	f, _ := os.OpenFile(blank, os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{0xAA}, 4096), 2<<20)
	f.Close()
	_, errs, code = runIn(t, "", "verify", "--repo", repoDir, "--machine", "ws1", blank)
	if code != 3 || !strings.Contains(errs, "differs") {
		t.Errorf("verify of a damaged disk = %d, %q; want exit 3 and a difference", code, errs)
	}
}
