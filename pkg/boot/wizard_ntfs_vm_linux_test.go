// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/internal/ntfstest"
	"github.com/rewind-backup/rewind/pkg/internal/qemutest"
	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// TestVMWizardNTFS is TestVMWizard for a Windows machine: a disk with an
// NTFS volume holding \Windows and \Users (mkntfs, filled through ntfs-3g)
// is captured by rewind on the host; a files snapshot made after it, of
// C:\users\jane (spelt as a person may type it), carries Windows
// attributes and security descriptors that ntfs-3g built on that volume
// for files of another owner. The boot environment's wizard restores the
// image and replays the snapshot with the kernel's ntfs3 driver. The host
// then finds, through ntfs-3g, each file's bytes, attributes, descriptor
// and modification time as the snapshot has them in Windows's Users
// folder (no second "users"), the file deleted since gone, the image's
// own files still there, and the volume clean. In between, the same
// replay run again in the guest's shell with rewind files replay --into
// onto the volume mounted with ntfs3 by hand finds nothing to do.
func TestVMWizardNTFS(t *testing.T) {
	kernel, initrd := bootArtifacts(t)
	rewind := qemutest.Rewind(t, "init", "capture", "wizard")
	testutil.NeedTool(t, "ntfsfix")
	smb := sambatest.Start(t, sambatest.Options{})
	const size = 32 << 20

	// The machine as imaged: Windows, Jane's documents, and two files of
	// hers whose descriptors ntfs-3g builds from owner and mode (owner
	// S-1-5-21-…-12000): the descriptors the snapshot gives its files.
	var sdPrivate, sdShared []byte
	source, psize := ntfstest.Disk(t, size, "Windows", func(root string) {
		for p, c := range map[string]string{
			"Windows/System32/drivers/etc/hosts": "127.0.0.1 localhost\n",
			"Users/Public/readme.txt":            "for everyone\n",
			"Users/jane/Documents/orders.txt":    "orders of last week\n",
			"Users/jane/Documents/old.txt":       "deleted since the image\n",
			"Users/jane/private.txt":             "mine\n",
			"Users/jane/shared.txt":              "ours\n",
		} {
			write(t, filepath.Join(root, p), c)
		}
		for p, mode := range map[string]os.FileMode{"private.txt": 0o600, "shared.txt": 0o644} {
			f := filepath.Join(root, "Users/jane", p)
			if err := os.Chown(f, 1000, 1000); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(f, mode); err != nil {
				t.Fatal(err)
			}
		}
		sdPrivate = ntfstest.Xattr(t, filepath.Join(root, "Users/jane/private.txt"), "system.ntfs_acl")
		sdShared = ntfstest.Xattr(t, filepath.Join(root, "Users/jane/shared.txt"), "system.ntfs_acl")
		dflt := ntfstest.Xattr(t, filepath.Join(root, "Users/jane"), "system.ntfs_acl")
		if bytes.Equal(sdPrivate, sdShared) || bytes.Equal(sdPrivate, dflt) || bytes.Equal(sdShared, dflt) {
			t.Fatal("ntfs-3g gave the files the same descriptors: nothing to tell the replay's apart")
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"init", "--repo", smb.URL(), "--password-file", smb.PasswordFile},
		{"capture", "--repo", smb.URL(), "--machine", "pc1", "--note", "weekly", "--password-file", smb.PasswordFile, source},
	} {
		if out, err := exec.CommandContext(ctx, rewind, args...).CombinedOutput(); err != nil {
			t.Fatalf("rewind %s: %v\n%s", args[0], err, out)
		}
	}

	// Jane's files a day later, as the Windows build would back them up.
	mtime := time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)
	home := filepath.Join(t.TempDir(), "jane")
	want := map[string]string{
		"Documents/orders.txt": "orders of this week\n",
		"notes/today.txt":      "call the customer\n",
		"desktop.ini":          "[.ShellClassInfo]\n",
		"private.txt":          "mine\n",
		"shared.txt":           "ours\n",
	}
	for p, c := range want {
		write(t, filepath.Join(home, p), c)
		if err := os.Chtimes(filepath.Join(home, p), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	const (
		ro, hidden, system, archive = ntfstest.AttrReadOnly, ntfstest.AttrHidden, ntfstest.AttrSystem, ntfstest.AttrArchive
	)
	wantAttrs := map[string]uint32{
		"Documents/orders.txt": archive,
		"notes/today.txt":      ro | archive,
		"desktop.ini":          hidden | system | archive,
		"private.txt":          archive,
		"shared.txt":           archive,
	}
	wantSD := map[string][]byte{"Documents/orders.txt": sdShared, "notes/today.txt": sdPrivate, "private.txt": sdPrivate, "shared.txt": sdShared}
	r, err := job.Open(ctx, job.Repo{URL: smb.URL(), PasswordFile: smb.PasswordFile}, progress.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ntfstest.WindowsSnapshot(t, r, "pc1", home, `C:\users\jane`, func(rel string, n *repo.Node) {
		if a, ok := wantAttrs[rel]; ok {
			n.Attrs = a
			if a&ro != 0 {
				n.Mode = 0o444
			}
		}
		n.Security = wantSD[rel]
	})
	job.CloseRepo(r)

	guestRepo := fmt.Sprintf("smb://%s@10.0.2.2:%d/%s", smb.User, smb.Port, smb.Share)
	initrd = withFiles(t, initrd, map[string]string{
		"/etc/rewind/rewind.conf": "password_file = password\nrepo = " + guestRepo + "\n",
		"/etc/rewind/password":    smb.Password() + "\n",
	})
	target := blankDisk(t, size)
	v := qemutest.Start(t, bootArgs(kernel, initrd, "", virtio(target)...)...)
	wizardRestore(t, v, smb.Share, `Replayed onto partition 1: \d+ added, \d+ changed, 1 deleted`, true)
	t.Logf("wizard restore and NTFS replay: QEMU start to the shell %v", v.Elapsed().Round(100*time.Millisecond))
	// The same replay again, from the command line onto the volume
	// mounted by hand as on any Linux: nothing left to do.
	stillUp(t, v)
	v.Send("mkdir -p /mnt/c && mount -t ntfs3 /dev/vda1 /mnt/c && rewind files replay --repo " + guestRepo +
		" --password-file /etc/rewind/password --machine pc1 --into /mnt/c --json; umount /mnt/c && poweroff\r")
	res := v.Expect(`(\{"type":"result"[^\r\n]*\})`, 2*time.Minute)[1]
	t.Logf("the replay again: %s", res)
	for _, w := range []string{`"ok":true`, `"added":0,"changed":0,"deleted":0,"unchanged":`} {
		if !strings.Contains(res, w) {
			t.Errorf("replay again with rewind files replay --into: %s, want %s", res, w)
		}
	}
	if err := v.Wait(stepDeadline); err != nil {
		t.Errorf("the VM did not power off: %v", err)
	}
	t.Logf("QEMU start to power-off after the second replay: %v", v.Elapsed().Round(100*time.Millisecond))
	v.ExpectNot(`ntfs3.*(error|warning|failed)`)

	// What Windows will find, read through ntfs-3g.
	part := ntfstest.Partition(t, target, psize)
	if st := checkNTFS(t, part); len(st.Unclean) > 0 {
		t.Errorf("the volume after the replay: %q, want clean", st.Unclean)
	}
	run(t, "ntfsfix", "-n", part)
	root, unmount := ntfstest.Mount(t, part)
	for p, c := range want {
		f := filepath.Join(root, "Users/jane", p)
		b, err := os.ReadFile(f)
		if err != nil || string(b) != c {
			t.Errorf("%s on the restored disk = %q (%v), want %q", p, b, err, c)
			continue
		}
		attrs := binary.BigEndian.Uint32(ntfstest.Xattr(t, f, "system.ntfs_attrib_be"))
		if got := attrs & (ro | hidden | system | archive); got != wantAttrs[p] {
			t.Errorf("%s: attributes %#x, want %#x", p, got, wantAttrs[p])
		}
		if sd := wantSD[p]; sd != nil {
			if got := ntfstest.Xattr(t, f, "system.ntfs_acl"); !bytes.Equal(got, sd) {
				t.Errorf("%s: security descriptor\n%x\nwant the snapshot's\n%x", p, got, sd)
			}
		}
		if fi, err := os.Stat(f); err != nil || !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: modified %v (%v), want %v", p, fi.ModTime(), err, mtime)
		}
	}
	// The snapshot says C:\users\jane: Windows's Users folder, not a
	// second one beside it.
	if _, err := os.Lstat(filepath.Join(root, "users")); err == nil {
		t.Error("the replay made a folder users beside Users")
	}
	if _, err := os.Lstat(filepath.Join(root, "Users/jane/Documents/old.txt")); err == nil {
		t.Error("Users/jane/Documents/old.txt, deleted since the image, is still there")
	}
	for p, c := range map[string]string{"Windows/System32/drivers/etc/hosts": "127.0.0.1 localhost\n", "Users/Public/readme.txt": "for everyone\n"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != c {
			t.Errorf("the image's own %s after the replay = %q (%v), want %q", p, b, err, c)
		}
	}
	unmount()
	if !hasReport(t, filepath.Join(smb.ShareDir, "reports", "pc1"), "restore", "/dev/vda") {
		t.Error("no report of the wizard's restore in the repository")
	}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func checkNTFS(t *testing.T, part string) *blockmap.NTFSState {
	t.Helper()
	f, err := os.Open(part)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st, err := blockmap.CheckNTFS(context.Background(), f, fi.Size())
	if err != nil || st == nil {
		t.Fatalf("CheckNTFS(%s) = %v, %v; want an NTFS volume", part, st, err)
	}
	return st
}
