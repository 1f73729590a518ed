// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package local

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCreate: Create makes the repository's folder and its missing
// parents, uses an existing one, and refuses to fill an empty mount point
// that has no disk mounted.
func TestCreate(t *testing.T) {
	tmp := t.TempDir()
	mnt := filepath.Join(tmp, "mnt") // stands for /mnt
	for _, d := range []string{"usb", "emptyroot", "full", "made/rewind"} {
		os.MkdirAll(filepath.Join(mnt, d), 0o755)
	}
	os.WriteFile(filepath.Join(mnt, "full", "data"), nil, 0o644)
	os.WriteFile(filepath.Join(tmp, "file"), nil, 0o644)
	empty := filepath.Join(tmp, "empty") // an empty mount root: /mnt with nothing in it
	os.Mkdir(empty, 0o755)
	roots := []string{mnt, empty}

	for _, tc := range []struct {
		name       string
		dir        string
		notMounted bool // want ErrNotMounted
		fails      bool // want another error
	}{
		{"nested, outside mount points", filepath.Join(tmp, "srv", "backup", "rewind"), false, false},
		{"existing folder", tmp, false, false},
		{"empty mount point", filepath.Join(mnt, "usb", "rewind"), true, false},
		{"deeper in an empty mount point", filepath.Join(mnt, "usb", "a", "rewind"), true, false},
		{"empty mount root", filepath.Join(empty, "rewind"), true, false},
		{"mount point with files", filepath.Join(mnt, "full", "rewind"), false, false},
		{"folder made by hand in an empty mount point", filepath.Join(mnt, "made", "rewind"), false, false},
		{"through a file", filepath.Join(tmp, "file", "rewind"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, statErr := os.Stat(tc.dir)
			existed := statErr == nil
			s, err := create(tc.dir, roots)
			switch {
			case tc.notMounted:
				if !errors.Is(err, ErrNotMounted) {
					t.Fatalf("create(%s) = %v, want ErrNotMounted", tc.dir, err)
				}
				if _, err := os.Stat(tc.dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("create(%s) refused but made the folder (stat: %v)", tc.dir, err)
				}
				return
			case tc.fails:
				if err == nil || errors.Is(err, ErrNotMounted) {
					t.Fatalf("create(%s) = %v, want an error other than ErrNotMounted", tc.dir, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("create(%s) = %v, want a store", tc.dir, err)
			}
			if s.Location() != tc.dir {
				t.Errorf("create(%s).Location() = %s", tc.dir, s.Location())
			}
			if fi, err := os.Stat(tc.dir); err != nil || !fi.IsDir() {
				t.Errorf("create(%s) left no folder (existed before: %v): %v", tc.dir, existed, err)
			}
		})
	}
}
