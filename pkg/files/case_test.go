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
