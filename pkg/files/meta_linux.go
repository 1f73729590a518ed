// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"bytes"
	"errors"
	"os"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/repo"
)

func ctime(st *syscall.Stat_t) int64 { return st.Ctim.Nano() }

// xattrs returns the extended attributes of the entry at path (not
// following a symlink), sorted by name. A filesystem without them has
// none.
func xattrs(path string) ([]repo.Xattr, error) {
	names, err := listXattrNames(path)
	if err != nil {
		return nil, err
	}
	var out []repo.Xattr
	for _, name := range names {
		v, err := getxattr(path, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, repo.Xattr{Name: name, Value: v})
	}
	return out, nil
}

func getxattr(path, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) && len(buf) < 1<<20 {
			buf = make([]byte, 16*len(buf))
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// setXattr sets extended attribute x on the entry at path, not following
// a symlink.
func setXattr(path string, x repo.Xattr) error {
	return unix.Lsetxattr(path, x.Name, x.Value, 0)
}

// listXattrNames lists the names of the entry's extended attributes,
// sorted, without reading their values.
func listXattrNames(path string) ([]string, error) {
	buf := make([]byte, 4096)
	var n int
	var err error
	for {
		n, err = unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) && len(buf) < 1<<20 {
			buf = make([]byte, 4*len(buf))
			continue
		}
		break
	}
	switch {
	case errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM):
		return nil, nil
	case err != nil:
		return nil, err
	}
	var names []string
	for _, name := range bytes.Split(buf[:n], []byte{0}) {
		if len(name) > 0 {
			names = append(names, string(name))
		}
	}
	sort.Strings(names)
	return names, nil
}

func removeXattr(path, name string) error { return unix.Lremovexattr(path, name) }

// setTimes sets the entry's modification time (and access time, to the
// same), not following a symlink.
func setTimes(p string, n *repo.Node, link bool) error {
	ts := []unix.Timespec{unix.NsecToTimespec(n.MTime), unix.NsecToTimespec(n.MTime)}
	flags := 0
	if link {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, flags)
}

// mknod makes device or FIFO n at p.
func mknod(p string, n *repo.Node) error {
	return unix.Mknod(p, n.Mode, int(n.Rdev))
}

// syncFile does nothing: the replay flushes the whole filesystem at its
// end (syncFS), far cheaper than a flush per file.
func syncFile(*os.File) error { return nil }

// syncFS flushes the filesystem that holds p.
func syncFS(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
