// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build linux

// Package ntfstest makes what the tests of a replay onto NTFS need: disk
// images with an NTFS partition made by mkntfs and filled through ntfs-3g
// (FUSE, which works where the kernel has no NTFS driver), and files
// snapshots of Windows paths with Windows metadata.
package ntfstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// PartStart is where Disk puts its NTFS partition: 1 MiB.
const PartStart = 1 << 20

// Disk builds a disk image of size bytes in t's temp dir: a GPT with one
// "Microsoft basic data" partition from 1 MiB to 1 MiB before the end,
// holding an NTFS volume labelled label that mkntfs made and fill filled
// through an ntfs-3g mount at its argument. It returns the image's path
// and the partition's size.
func Disk(t testing.TB, size int64, label string, fill func(root string)) (string, int64) {
	t.Helper()
	testutil.NeedTool(t, "sfdisk", "mkntfs", "ntfs-3g", "dd")
	dir := t.TempDir()
	disk := filepath.Join(dir, "source.img")
	part := filepath.Join(dir, "part.img")
	psize := size - 2*PartStart
	testutil.SparseFile(t, disk, size)
	testutil.SparseFile(t, part, psize)
	testutil.Command(t, fmt.Sprintf("label: gpt\nstart=%d, size=%d, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=\"Basic data partition\"\n", PartStart/512, psize/512), "sfdisk", "-q", disk)
	testutil.Command(t, "", "mkntfs", "-q", "-F", "-f", "-L", label, "-p", fmt.Sprint(PartStart/512), part)
	root, unmount := Mount(t, part)
	fill(root)
	unmount()
	testutil.Command(t, "", "dd", "if="+part, "of="+disk, "bs=1M", fmt.Sprintf("seek=%d", PartStart>>20), "conv=notrunc,sparse", "status=none")
	os.Remove(part)
	return disk, psize
}

// Partition copies the NTFS partition of a disk Disk made (size bytes at
// 1 MiB) to a file of its own in t's temp dir and returns its path.
func Partition(t testing.TB, disk string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "part.img")
	testutil.Command(t, "", "dd", "if="+disk, "of="+p, "bs=1M", fmt.Sprintf("skip=%d", PartStart>>20), fmt.Sprintf("count=%d", size>>20), "status=none")
	return p
}

// fuseMagic is the filesystem type of a FUSE mount.
const fuseMagic = 0x65735546

// Mount mounts the NTFS volume in image file img with ntfs-3g, with
// standard permissions (files made there get security descriptors built
// from their owner and mode, as a user mapping would), on a new folder,
// and returns it with a function that unmounts it and waits for ntfs-3g
// to exit, so that everything it wrote is in img. The test fails if the
// mount does not appear within 10 s; it is unmounted when the test ends
// if unmount was not called.
func Mount(t testing.TB, img string) (string, func()) {
	t.Helper()
	ntfs3g := testutil.NeedTool(t, "ntfs-3g")[0]
	dir := t.TempDir()
	cmd := exec.Command(ntfs3g, "-o", "no_detach,permissions", img, dir)
	out := &limitedBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("ntfs-3g %s: %v", img, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && uint32(st.Type) == fuseMagic {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("ntfs-3g %s %s exited before the mount appeared: %v\n%s", img, dir, err, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("ntfs-3g %s %s: no mount after 10 s\n%s", img, dir, out)
		}
	}
	done := false
	unmount := func() {
		t.Helper()
		if done {
			return
		}
		done = true
		if err := unix.Unmount(dir, 0); err != nil {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("unmounting %s: %v", dir, err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("ntfs-3g %s: %v\n%s", img, err, out)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Fatalf("ntfs-3g %s still running 30 s after its unmount", img)
		}
	}
	t.Cleanup(unmount)
	return dir, unmount
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if n := min(len(p), l.max-len(l.b)); n > 0 {
		l.b = append(l.b, p[:n]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// Xattr returns extended attribute name of the entry at p (not
// following a symlink): on an ntfs-3g mount system.ntfs_acl is its
// security descriptor, system.ntfs_attrib_be its attributes.
func Xattr(t testing.TB, p, name string) []byte {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		t.Fatalf("%s of %s: %v", name, p, err)
	}
	return buf[:n]
}

// Windows file attributes (winnt.h).
const (
	AttrReadOnly = 0x1
	AttrHidden   = 0x2
	AttrSystem   = 0x4
	AttrDir      = 0x10
	AttrArchive  = 0x20
)

// WindowsSnapshot backs up folder from of this machine with files.Backup,
// then saves a files snapshot of machine in which that folder's tree is
// at Windows path to (C:\Users\jane) and every entry has the metadata
// the Windows build records (pkg/files meta_windows.go): attributes
// (archive for files, directory for folders), mode 0666 or 0777, no Unix
// owner nor extended attributes; meta may then change a node, given its
// path under to with slashes ("notes/today.txt"; "" for to itself). This
// is the snapshot a backup on Windows would have made of the same files,
// with blobs the real backup stored: the Windows build itself runs only
// under Wine here, which records no security descriptors.
func WindowsSnapshot(t testing.TB, r *repo.Repository, machine, from, to string, meta func(rel string, n *repo.Node)) *repo.Snapshot {
	t.Helper()
	ctx := context.Background()
	res, err := files.Backup(ctx, r, files.Options{Machine: machine, Paths: []string{from}, NoParent: true})
	if err != nil {
		t.Fatal(err)
	}
	n, err := files.Lookup(ctx, r, res.Snapshot.Files.Root(), from)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := r.LoadIndexWith(ctx, repo.IndexOptions{Max: repo.DefaultIndexMax})
	if err != nil {
		t.Fatal(err)
	}
	ts := r.NewSaver(idx).NewTreeSaver()
	var convert func(n *repo.Node, rel string)
	convert = func(n *repo.Node, rel string) {
		n.UID, n.GID, n.User, n.Group, n.Xattrs = 0, 0, "", "", nil
		n.Inode, n.Dev, n.Links = 0, 0, 1
		if n.Type == repo.NodeDir {
			n.Mode, n.Attrs = 0o777, AttrDir
			tr, err := r.LoadTree(ctx, *n.Subtree)
			if err != nil {
				t.Fatal(err)
			}
			for k := range tr.Nodes {
				convert(&tr.Nodes[k], strings.TrimPrefix(rel+"/"+tr.Nodes[k].Name, "/"))
			}
			b, err := ts.Save(ctx, tr)
			if err != nil {
				t.Fatal(err)
			}
			n.Subtree = &b
		} else {
			n.Mode, n.Attrs = 0o666, AttrArchive
		}
		if meta != nil {
			meta(rel, n)
		}
	}
	parts := strings.Split(strings.ReplaceAll(to, `\`, "/"), "/")
	top := *n
	top.Name = parts[len(parts)-1]
	convert(&top, "")
	// The folders above it, up to the drive, hold only what leads to it.
	for i := len(parts) - 2; i >= 0; i-- {
		b, err := ts.Save(ctx, &repo.Tree{Nodes: []repo.Node{top}})
		if err != nil {
			t.Fatal(err)
		}
		top = repo.Node{Name: parts[i], Type: repo.NodeDir, Mode: 0o777, Attrs: AttrDir, MTime: top.MTime, Links: 1, Subtree: &b}
	}
	root, err := ts.Save(ctx, &repo.Tree{Nodes: []repo.Node{top}})
	if err != nil {
		t.Fatal(err)
	}
	if root, err = ts.Flush(ctx, root); err != nil {
		t.Fatal(err)
	}
	f := &repo.Files{Paths: []string{to}}
	f.SetRoot(root)
	snap := &repo.Snapshot{Kind: repo.KindFiles, Machine: machine, Time: time.Now(), Host: machine, Files: f}
	if _, err := r.SaveSnapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	// The backup's own snapshot goes; its blobs stay, named by this one.
	if err := r.RemoveSnapshotID(ctx, res.Snapshot.ID()); err != nil {
		t.Fatal(err)
	}
	return snap
}
