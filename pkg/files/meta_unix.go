// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build linux || darwin

package files

import (
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"sync"
	"syscall"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// osPath turns a tree path ("/home/jane") into the system's.
func osPath(p string) string { return p }

// localPath returns path p, to back up, as the tree records it.
func localPath(p string) (string, error) { return p, nil }

// nodeOf returns the node of the entry at path, named name, from its
// Lstat result fi, with the system's metadata.
func nodeOf(path, name string, fi fs.FileInfo) (repo.Node, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return repo.Node{}, &fs.PathError{Op: "stat", Path: path, Err: syscall.EINVAL}
	}
	n := repo.Node{
		Name:  name,
		Mode:  uint32(st.Mode) & 07777,
		MTime: fi.ModTime().UnixNano(),
		CTime: ctime(st),
		Inode: uint64(st.Ino),
		Dev:   uint64(st.Dev),
		Links: uint32(st.Nlink),
		UID:   st.Uid,
		GID:   st.Gid,
		User:  userName(st.Uid),
		Group: groupName(st.Gid),
	}
	switch fi.Mode().Type() {
	case 0:
		n.Type = repo.NodeFile
		n.Size = uint64(fi.Size())
	case fs.ModeDir:
		n.Type = repo.NodeDir
	case fs.ModeSymlink:
		n.Type = repo.NodeSymlink
		t, err := os.Readlink(path)
		if err != nil {
			return n, err
		}
		n.Target = t
	default:
		n.Type = repo.NodeDevice
		n.Rdev = uint64(st.Rdev)
		n.Mode = uint32(st.Mode) // with the type bits: mknod needs them
	}
	if n.Type != repo.NodeDevice {
		xs, err := xattrs(path)
		if err != nil {
			return n, err
		}
		n.Xattrs = xs
	}
	return n, nil
}

var (
	namesMu sync.Mutex
	users   = map[uint32]string{}
	groups  = map[uint32]string{}
)

func userName(uid uint32) string {
	namesMu.Lock()
	defer namesMu.Unlock()
	if n, ok := users[uid]; ok {
		return n
	}
	var name string
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		name = u.Username
	}
	users[uid] = name
	return name
}

func groupName(gid uint32) string {
	namesMu.Lock()
	defer namesMu.Unlock()
	if n, ok := groups[gid]; ok {
		return n
	}
	var name string
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		name = g.Name
	}
	groups[gid] = name
	return name
}

// setAttrs sets Windows attributes: none here.
func setAttrs(string, *repo.Node) error { return nil }

// sameAttrs reports whether the entry has n's Windows attributes: there
// are none here.
func sameAttrs(fs.FileInfo, *repo.Node) bool { return true }

// replaceFile renames file from over file to.
func replaceFile(from, to string) error { return os.Rename(from, to) }

// openRead opens a file to back it up.
func openRead(path string) (*os.File, error) { return os.Open(path) }

// canChown reports whether the process may give files away.
func canChown() bool { return os.Geteuid() == 0 }

// ownedAs reports whether fi's owner is n's.
func ownedAs(fi fs.FileInfo, n *repo.Node) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == n.UID && st.Gid == n.GID
}

// sameDevice reports whether fi is device or FIFO n.
func sameDevice(fi fs.FileInfo, n *repo.Node) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint32(st.Mode)&syscall.S_IFMT == n.Mode&syscall.S_IFMT && uint64(st.Rdev) == n.Rdev
}
