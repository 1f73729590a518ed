// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOnDiskCase: a Windows path is spelt as the folders on the target
// spell it, whatever the case the snapshot has; what is not there keeps
// the snapshot's spelling.
func TestOnDiskCase(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"Users/Jane/Documents", "Windows"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"Users/Jane", "Users/Jane"},
		{"users/jane/documents", "Users/Jane/Documents"},
		{"USERS/bob/Desktop", "Users/bob/Desktop"},
		{"", ""},
	} {
		in := splitTree(tc.in)
		if got := onDiskCase(dir, in); !slices.Equal(got, splitTree(tc.want)) {
			t.Errorf("onDiskCase(%q) = %q, want %q", tc.in, strings.Join(got, "/"), tc.want)
		}
	}
}

// TestWindowsPaths: the extended forms of a path under a drive letter are
// that path, in a backup and in a tree path; network folders and volumes
// without a drive letter are refused, naming what to do.
func TestWindowsPaths(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`C:\Users\jane`, `C:\Users\jane`, ""},
		{`\\?\C:\Users\jane`, `C:\Users\jane`, ""},
		{`\\.\c:\Users\jane`, `c:\Users\jane`, ""},
		{`//?/C:/Users/jane`, `C:/Users/jane`, ""},
		{`\\?\C:`, `C:\`, ""},
		{`/home/jane`, `/home/jane`, ""},
		{`\\server\share\jane`, "", "network folder: back it up on the machine that holds it"},
		{`\\?\UNC\server\share\jane`, "", "network folder: back it up on the machine that holds it"},
		{`\\?\unc\server\share`, "", "network folder"},
		{`\\?\Volume{1b3b1146-4076-11e1-84aa-806e6f6e6963}\Users`, "", "give the folder under its drive letter"},
	} {
		got, err := windowsLocalPath(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("windowsLocalPath(%q) = %q, %v; want %q, an error saying %q", tc.in, got, err, tc.want, tc.err)
		}
	}
	for in, want := range map[string]string{
		`\\?\C:\Users\jane`:  "/C:/Users/jane",
		`\\?\c:\Users\jane\`: "/C:/Users/jane",
		`\\.\C:\Users`:       "/C:/Users",
		`\\?\C:`:             "/C:",
		`C:\Users\jane`:      "/C:/Users/jane",
	} {
		if got := treePath(in); got != want {
			t.Errorf("treePath(%q) = %q, want %q", in, got, want)
		}
		if got := Drive(in); got != "C:" {
			t.Errorf("Drive(%q) = %q, want C:", in, got)
		}
	}
}
