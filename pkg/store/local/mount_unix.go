// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build unix

package local

import (
	"os"
	"path/filepath"
	"syscall"
)

// mountPoint reports whether dir is the root of a mounted filesystem: it is
// on another device than its parent, or it is /.
func mountPoint(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return false
	}
	parent, err := os.Stat(filepath.Dir(dir))
	if err != nil {
		return false
	}
	a, ok1 := fi.Sys().(*syscall.Stat_t)
	b, ok2 := parent.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return false
	}
	return a.Dev != b.Dev || a.Ino == b.Ino
}
