// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"os"
	"syscall"
	"time"

	"github.com/rewind-backup/rewind/pkg/repo"
)

func ctime(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }

// xattrs: not yet read on macOS (resource forks, Finder info and
// quarantine flags are lost); see docs/FORMAT.md.
func xattrs(string) ([]repo.Xattr, error)     { return nil, nil }
func setXattr(string, repo.Xattr) error       { return nil }
func listXattrNames(string) ([]string, error) { return nil, nil }
func removeXattr(string, string) error        { return nil }

func setTimes(p string, n *repo.Node, link bool) error {
	if link {
		return nil
	}
	t := time.Unix(0, n.MTime)
	return os.Chtimes(p, t, t)
}

func mknod(p string, n *repo.Node) error { return syscall.Mknod(p, n.Mode, int(n.Rdev)) }

func syncFS(string) error { syscall.Sync(); return nil }

func syncFile(*os.File) error { return nil }
