// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// osPath turns a tree path ("/C:/Users/jane") into the system's
// ("C:\Users\jane").
func osPath(p string) string {
	p = strings.TrimPrefix(p, "/")
	if len(p) == 2 && p[1] == ':' {
		return p + `\`
	}
	return filepath.FromSlash(p)
}

// localPath returns path p, to back up, as the tree records it: under its
// drive letter (windowsLocalPath). A network drive (a share mapped to a
// drive letter) is refused as a network folder is.
func localPath(p string) (string, error) {
	p, err := windowsLocalPath(p)
	if err != nil || !isDrive(p) {
		return p, err
	}
	root, err := windows.UTF16PtrFromString(p[:2] + `\`)
	if err == nil && windows.GetDriveType(root) == windows.DRIVE_REMOTE {
		return "", fmt.Errorf("%s is on %s, a network drive: back it up on the machine that holds it; rewind backs up this machine's own disks, which a replay puts files back onto", p, p[:2])
	}
	return p, nil
}

// nodeOf returns the node of the entry at path from its Lstat result fi.
// Windows metadata kept so far: attributes, creation, modification and
// change times, volume serial number and file index (the unchanged-file
// test and hard links). The security descriptor is read beside it
// (readSecurity); alternate data streams are not read yet.
func nodeOf(path, name string, fi fs.FileInfo) (repo.Node, error) {
	n := repo.Node{Name: name, Mode: uint32(fi.Mode().Perm()), MTime: fi.ModTime().UnixNano(), Links: 1}
	fileID(path, &n)
	if d, ok := fi.Sys().(*syscall.Win32FileAttributeData); ok {
		n.Attrs = d.FileAttributes
		n.Birth = d.CreationTime.Nanoseconds()
	}
	switch t := fi.Mode().Type(); {
	case t == 0:
		n.Type = repo.NodeFile
		n.Size = uint64(fi.Size())
	case t == fs.ModeDir:
		n.Type = repo.NodeDir
	case t == fs.ModeSymlink:
		n.Type = repo.NodeSymlink
		target, err := os.Readlink(path)
		if err != nil {
			return n, err
		}
		n.Target = target
	default:
		n.Type = repo.NodeReparse
	}
	return n, nil
}

func xattrs(string) ([]repo.Xattr, error)     { return nil, nil }
func setXattr(string, repo.Xattr) error       { return nil }
func listXattrNames(string) ([]string, error) { return nil, nil }
func removeXattr(string, string) error        { return nil }

// replaceFile renames file from over file to. Windows refuses to replace a
// read-only file (ERROR_ACCESS_DENIED): then to's read-only attribute is
// cleared and the rename tried once more; from brings its own attributes.
func replaceFile(from, to string) error {
	err := os.Rename(from, to)
	if err == nil || !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return err
	}
	if fi, serr := os.Lstat(to); serr != nil || fi.Mode().Perm()&0o200 != 0 {
		return err
	}
	if cerr := os.Chmod(to, 0o666); cerr != nil {
		return err
	}
	return os.Rename(from, to)
}

// openRead opens a file to back it up.
func openRead(path string) (*os.File, error) { return os.Open(path) }

func canChown() bool { return false }

// setTimes sets the entry's creation, access and modification times (the
// access time to the modification time, as on Unix).
//
// Under Wine the creation time does not stay: Linux has no call to set a
// file's birth time, and Wine then reports the modification time as the
// creation time. On Windows (NTFS) it is set.
func setTimes(p string, n *repo.Node, link bool) error {
	if link {
		return nil
	}
	u, err := windows.UTF16PtrFromString(extendedPath(p))
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(u, windows.FILE_WRITE_ATTRIBUTES, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return &fs.PathError{Op: "settimes", Path: p, Err: err}
	}
	defer windows.CloseHandle(h)
	m := windows.NsecToFiletime(n.MTime)
	var birth *windows.Filetime
	if n.Birth != 0 {
		b := windows.NsecToFiletime(n.Birth)
		birth = &b
	}
	if err := windows.SetFileTime(h, birth, &m, &m); err != nil {
		return &fs.PathError{Op: "settimes", Path: p, Err: err}
	}
	return nil
}

// settableAttrs are the Windows attributes SetFileAttributes sets. The
// read-only one comes from the mode (os.Chmod); compression, encryption,
// sparseness and reparse points take calls of their own and are not
// replayed.
const settableAttrs = windows.FILE_ATTRIBUTE_HIDDEN | windows.FILE_ATTRIBUTE_SYSTEM | windows.FILE_ATTRIBUTE_ARCHIVE |
	windows.FILE_ATTRIBUTE_TEMPORARY | windows.FILE_ATTRIBUTE_OFFLINE | windows.FILE_ATTRIBUTE_NOT_CONTENT_INDEXED

// setAttrs gives the entry n's Windows attributes (hidden, system, archive
// and the like), leaving its read-only attribute as it is. It runs after
// setTimes: under Wine, setting a file's times resets its attributes
// (Windows leaves them alone).
func setAttrs(p string, n *repo.Node) error {
	if n.Type == repo.NodeSymlink {
		return nil
	}
	u, err := windows.UTF16PtrFromString(extendedPath(p))
	if err != nil {
		return err
	}
	cur, err := windows.GetFileAttributes(u)
	if err != nil {
		return &fs.PathError{Op: "getattributes", Path: p, Err: err}
	}
	want := n.Attrs&settableAttrs | cur&windows.FILE_ATTRIBUTE_READONLY
	if cur&(settableAttrs|windows.FILE_ATTRIBUTE_READONLY) == want {
		return nil
	}
	if want == 0 {
		want = windows.FILE_ATTRIBUTE_NORMAL
	}
	if err := windows.SetFileAttributes(u, want); err != nil {
		return &fs.PathError{Op: "setattributes", Path: p, Err: err}
	}
	return nil
}

// sameAttrs reports whether the entry (fi its Lstat result) has n's
// settable attributes.
func sameAttrs(fi fs.FileInfo, n *repo.Node) bool {
	d, ok := fi.Sys().(*syscall.Win32FileAttributeData)
	return !ok || d.FileAttributes&settableAttrs == n.Attrs&settableAttrs
}

func mknod(string, *repo.Node) error { return errors.New("not on Windows") }

// syncFS does nothing on Windows: flushing a whole volume takes an
// administrator's handle to it. Each file is flushed as it is written
// instead (syncFile), before the replay's marker goes.
func syncFS(string) error { return nil }

// syncFile flushes a file the replay wrote (FlushFileBuffers).
func syncFile(f *os.File) error { return f.Sync() }

func ownedAs(fs.FileInfo, *repo.Node) bool { return true }

func sameDevice(fs.FileInfo, *repo.Node) bool { return false }

// extendedPath returns absolute path p (clean, with backslashes) in the
// \\?\ form when it is too long for a call straight to the Windows API:
// CreateFile refuses a path of MAX_PATH (260) characters or more unless
// long paths are enabled for the whole system. The os package does the
// same inside. Wine takes long paths either way, so its test cannot tell.
func extendedPath(p string) string {
	if len(p) < 248 || !isDrive(p) || len(p) < 3 || p[2] != '\\' {
		return p
	}
	return `\\?\` + p
}

// fileBasicInfo is FILE_BASIC_INFO: times in 100 ns since 1601.
type fileBasicInfo struct {
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime int64
	FileAttributes                                          uint32
	_                                                       uint32
}

// fileID fills in n's volume serial number, file index, link count and
// change time, read through a handle that asks for no access (a file
// open elsewhere without sharing still answers). When that fails the
// fields stay zero, and the unchanged-file test rests on size and times.
func fileID(path string, n *repo.Node) {
	p, err := windows.UTF16PtrFromString(extendedPath(path))
	if err != nil {
		return
	}
	h, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return
	}
	defer windows.CloseHandle(h)
	var bi windows.ByHandleFileInformation
	if windows.GetFileInformationByHandle(h, &bi) == nil {
		n.Dev = uint64(bi.VolumeSerialNumber)
		n.Inode = uint64(bi.FileIndexHigh)<<32 | uint64(bi.FileIndexLow)
		n.Links = bi.NumberOfLinks
	}
	var fb fileBasicInfo
	if windows.GetFileInformationByHandleEx(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(&fb)), uint32(unsafe.Sizeof(fb))) == nil {
		n.CTime = (fb.ChangeTime - 116444736000000000) * 100
	}
}
