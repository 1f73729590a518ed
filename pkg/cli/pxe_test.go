// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPXETasks: add, list, replace and remove tasks through the command
// line; bad input is one line saying what is wrong, with exit code 2.
func TestPXETasks(t *testing.T) {
	tasks := filepath.Join(t.TempDir(), "tasks.json")
	run := func(args ...string) (string, error) {
		out, _, err := runErr(append(args, "--tasks", tasks)...)
		return out, err
	}
	if out, err := run("pxe", "task", "list"); err != nil || !strings.Contains(out, "no tasks") {
		t.Errorf("list of a missing file = %q, %v", out, err)
	}
	if _, err := run("pxe", "task", "add", "--mac", "52-54-00-12-34-56", "--machine", "office-pc", "capture", "--once", "--then", "poweroff"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("pxe", "task", "add", "--mac", "52:54:00:ab:cd:ef", "--machine", "till", "restore", "--image", "2026-11-29T0200", "--target", "nvme0n1"); err != nil {
		t.Fatal(err)
	}
	out, err := run("pxe", "task", "add", "--mac", "52:54:00:AB:CD:EF", "--machine", "till", "restore", "--files", "none")
	if err != nil || !strings.Contains(out, "replaced") {
		t.Errorf("adding a second task for a MAC = %q, %v; want it replaced", out, err)
	}
	out, err = run("pxe", "task", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"52:54:00:12:34:56  office-pc  capture, then poweroff", "52:54:00:ab:cd:ef  till       restore                 -      none"} {
		if !strings.Contains(out, want) {
			t.Errorf("task list lacks %q:\n%s", want, out)
		}
	}
	if out, err := run("pxe", "task", "rm", "--mac", "52:54:00:12:34:56"); err != nil || !strings.Contains(out, "removed") {
		t.Errorf("rm = %q, %v", out, err)
	}
	if out, _ := run("pxe", "task", "list"); strings.Contains(out, "office-pc") {
		t.Errorf("removed task still listed:\n%s", out)
	}

	for _, bad := range [][]string{
		{"pxe", "task", "add", "--mac", "52:54:00:12:34", "--machine", "pc", "capture"},
		{"pxe", "task", "add", "--mac", "52:54:00:12:34:56", "capture"},
		{"pxe", "task", "add", "--mac", "52:54:00:12:34:56", "--machine", "pc", "format"},
		{"pxe", "task", "add", "--mac", "52:54:00:12:34:56", "--machine", "front desk", "capture"},
		{"pxe", "task", "add", "--mac", "52:54:00:12:34:56", "--machine", "pc", "capture", "--then", "explode"},
		{"pxe", "task", "add", "--mac", "52:54:00:12:34:56", "--machine", "pc"},
		{"pxe", "task", "rm", "--mac", "nonsense"},
		{"pxe", "serve"},
		{"pxe", "serve", "--bundle", t.TempDir(), "--repo", "smb://u:hunter2@nas/share"},
	} {
		_, err := run(bad...)
		if !errors.Is(err, ErrUsage) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Run(%q) = %v; want one line, a usage error, no password", bad, err)
		}
	}
	// A broken tasks file is named, not overwritten.
	if err := os.WriteFile(tasks, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run("pxe", "task", "add", "--mac", "52:54:00:12:34:56", "--machine", "pc", "capture"); err == nil || !strings.Contains(err.Error(), tasks) {
		t.Errorf("add to a broken tasks file = %v; want an error naming it", err)
	}
	if b, _ := os.ReadFile(tasks); string(b) != "{" {
		t.Errorf("the broken tasks file was overwritten: %q", b)
	}
}
