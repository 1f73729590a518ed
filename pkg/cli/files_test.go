// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
)

// TestFilesOverSMB backs up a folder into a repository on a real Samba
// share through the command line, changes it, backs it up again, and
// looks, diffs, replays and restores.
func TestFilesOverSMB(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	url := srv.URL() + "/files"
	env := map[string]string{passwordEnv: srv.PasswordFile}
	if out, errs, code := run(t, env, "init", "--repo", url); code != 0 {
		t.Fatalf("init = %d, %q %q", code, out, errs)
	}
	src := filepath.Join(t.TempDir(), "jane")
	if err := os.MkdirAll(filepath.Join(src, "Documents"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(src, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Documents/plan.ods", strings.Repeat("plan ", 50000))
	write("Documents/old.txt", "to be deleted")
	if err := os.MkdirAll(filepath.Join(src, ".cache/thumbs"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(".cache/thumbs/t1", "cache")

	out, errs, code := run(t, env, "files", "backup", "--repo", url, "--machine", "office-pc", "--json", src)
	if code != 0 {
		t.Fatalf("files backup = %d, %q %q", code, out, errs)
	}
	var first filesBackupJSON
	if err := json.Unmarshal([]byte(lastLine(out)), &first); err != nil || !first.OK || first.Stats.Files != 2 {
		t.Fatalf("files backup --json result %q (%v): want ok and 2 files (the cache left out)", lastLine(out), err)
	}
	if strings.Contains(out+errs, srv.Password()) {
		t.Errorf("output mentions the password")
	}

	write("Documents/plan.ods", strings.Repeat("plan ", 50000)+"one more line")
	write("Documents/new.txt", "new")
	if err := os.Remove(filepath.Join(src, "Documents/old.txt")); err != nil {
		t.Fatal(err)
	}
	out, errs, code = run(t, env, "files", "backup", "--repo", url, "--machine", "office-pc", src)
	if code != 0 || !strings.Contains(out, "of office-pc: 2 files") {
		t.Fatalf("second files backup = %d, %q %q", code, out, errs)
	}
	second := strings.Fields(out)[1]

	out, errs, code = run(t, env, "files", "ls", "--repo", url, "--machine", "office-pc", src+"/Documents")
	if code != 0 || !strings.Contains(out, "new.txt") || !strings.Contains(out, "plan.ods") || strings.Contains(out, "old.txt") {
		t.Errorf("files ls = %d, %q %q; want new.txt and plan.ods", code, out, errs)
	}
	out, errs, code = run(t, env, "files", "diff", "--repo", url, "--machine", "office-pc", first.Snapshot[:8], second)
	for _, want := range []string{"added", "/Documents/new.txt", "changed", "/Documents/plan.ods", "deleted", "/Documents/old.txt"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("files diff = %d, %q %q; want %q", code, out, errs, want)
		}
	}
	out, _, _ = run(t, env, "snapshots", "--repo", url)
	if strings.Count(out, "files") != 2 {
		t.Errorf("snapshots lists %q, want both files snapshots", out)
	}

	// Replay onto the old state of the folder: a copy made from the first
	// snapshot by restore.
	old := t.TempDir()
	out, errs, code = run(t, env, "files", "restore", "--repo", url, "--machine", "office-pc", "--snapshot", first.Snapshot[:8], "--to", old, src)
	if code != 0 {
		t.Fatalf("files restore = %d, %q %q", code, out, errs)
	}
	oldDir := filepath.Join(old, src)
	if b, err := os.ReadFile(filepath.Join(oldDir, "Documents/old.txt")); err != nil || string(b) != "to be deleted" {
		t.Fatalf("restored old.txt = %q, %v", b, err)
	}
	out, errs, code = run(t, env, "files", "restore", "--repo", url, "--machine", "office-pc", "--to", old, src)
	if code == 0 || !strings.Contains(errs, "--overwrite") {
		t.Errorf("files restore over an existing folder = %d, %q; want a refusal naming --overwrite", code, errs)
	}
	out, errs, code = run(t, env, "files", "replay", "--repo", url, "--machine", "office-pc", "--into", old)
	if code != 0 || !strings.Contains(out, "1 added, 1 changed, 1 deleted") {
		t.Fatalf("files replay = %d, %q %q; want 1 added, 1 changed, 1 deleted", code, out, errs)
	}
	for _, p := range []string{"Documents/plan.ods", "Documents/new.txt"} {
		a, _ := os.ReadFile(filepath.Join(src, p))
		b, _ := os.ReadFile(filepath.Join(oldDir, p))
		if !bytes.Equal(a, b) {
			t.Errorf("after replay, %s differs from the source", p)
		}
	}
	if _, err := os.Stat(filepath.Join(oldDir, "Documents/old.txt")); err == nil {
		t.Errorf("after replay, the deleted old.txt is still there")
	}

	// Bad input: an unknown snapshot, a target that is not there.
	_, errs, code = run(t, env, "files", "replay", "--repo", url, "--machine", "office-pc", "--snapshot", "abcdef12", "--into", old)
	if code == 0 || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("replay of an unknown snapshot = %d, %q; want one line and a failure", code, errs)
	}
	_, errs, code = run(t, env, "files", "replay", "--repo", url, "--machine", "office-pc", "--into", filepath.Join(old, "nope"))
	if code == 0 || !strings.Contains(errs, "no such file") {
		t.Errorf("replay into a missing folder = %d, %q", code, errs)
	}

	out, errs, code = run(t, env, "check", "--repo", url, "--read-data")
	if code != 0 {
		t.Errorf("check = %d, %q %q", code, out, errs)
	}
}
