// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// TestReplayOnto restores an ext4 disk image and replays a newer files
// snapshot onto it, as the wizard does in the boot environment: the files
// are then on the restored filesystem, which stays clean for fsck.
func TestReplayOnto(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "e2fsck")
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		if testutil.Required() {
			t.Fatal("no loop devices here")
		}
		t.Skip("no loop devices here")
	}
	ctx := context.Background()
	dir := t.TempDir()
	source := testutil.SampleDisk(t, 32<<20)
	r := localRepo(t, dir)
	src, err := disk.Open(source)
	if err != nil {
		t.Fatal(err)
	}
	_, err = capture.Capture(ctx, r, []capture.Source{src}, capture.Options{Machine: "ws1"})
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	want := map[string]string{"jane/orders.ods": "orders of the week", "jane/notes/today.txt": "call the customer"}
	for p, c := range want {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(home, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fres, err := files.Backup(ctx, r, files.Options{Machine: "ws1", Paths: []string{home}})
	if err != nil {
		t.Fatal(err)
	}

	target := filepath.Join(dir, "target.img")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(target, 32<<20); err != nil {
		t.Fatal(err)
	}
	plan, err := PlanRestore(ctx, r, RestoreRequest{Machine: "ws1", Targets: []string{target}})
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	if _, err := plan.Run(ctx, RestoreOptions{}); err == nil || !errorsContains(err, "was not confirmed") {
		t.Fatalf("Run before confirmation = %v, want a refusal", err)
	}
	plan.ConfirmAll()
	if _, err := plan.Run(ctx, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	sum, where, err := plan.ReplayOnto(ctx, fres.Snapshot, ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if where.Partition.Index != 1 || sum.Added < int64(len(want)) {
		t.Errorf("ReplayOnto = partition %d, %d added; want partition 1 and at least %d added", where.Partition.Index, sum.Added, len(want))
	}

	// Look at the restored filesystem: the files are where the snapshot
	// had them, and fsck finds it clean.
	mnt, loop, unmount := mountRestored(t, target, where.Partition)
	for p, c := range want {
		b, err := os.ReadFile(filepath.Join(mnt, home, p))
		if err != nil || string(b) != c {
			t.Errorf("%s on the restored filesystem = %q (%v), want %q", p, b, err, c)
		}
	}
	if _, err := os.Stat(filepath.Join(mnt, "docs", "f00.txt")); err != nil {
		t.Errorf("the image's own files are gone after the replay: %v", err)
	}
	unmount()
	testutil.Command(t, "", "e2fsck", "-fn", loop)
}

// TestReplayOntoNoTarget: a snapshot without a filesystem of its kind to
// go to is refused with ErrNoReplayTarget before any disk is touched (the
// plan here has none open): Linux user files onto NTFS and FAT only, and
// Windows user files of another drive than C:, which no restored
// partition says it was.
func TestReplayOntoNoTarget(t *testing.T) {
	p := &RestorePlan{Disks: []PlannedDisk{{Source: repo.Disk{Partitions: []repo.Partition{{Index: 1, FS: "ntfs"}, {Index: 2, FS: "vfat"}}}}}}
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{"/home/jane"}, "no ext4, xfs or btrfs partition"},
		{[]string{`C:\Users`, `D:\Data`}, `D:\\Data is not on drive C:`},
	} {
		fs := &repo.Snapshot{Kind: repo.KindFiles, Files: &repo.Files{Paths: tc.paths}}
		_, _, err := p.ReplayOnto(context.Background(), fs, ReplayOptions{})
		if !errors.Is(err, ErrNoReplayTarget) || !regexp.MustCompile(tc.want).MatchString(err.Error()) {
			t.Errorf("ReplayOnto(%q onto NTFS and FAT) = %v, want ErrNoReplayTarget saying %q", tc.paths, err, tc.want)
		}
	}
}

func errorsContains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

// TestReplayOntoSeparateHome: a restored system whose /etc/fstab mounts the
// snapshot's folder from a partition of its own gets the files there, not
// in the root filesystem's empty mount point.
func TestReplayOntoSeparateHome(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "sfdisk", "mkfs.ext4", "e2fsck", "debugfs")
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		if testutil.Required() {
			t.Fatal("no loop devices here")
		}
		t.Skip("no loop devices here")
	}
	ctx := context.Background()
	dir := t.TempDir()
	// The user files as backed up: HOME/jane/...; on the restored system
	// HOME is the mount point of partition 2 (label "home").
	home := filepath.Join(dir, "home")
	want := map[string]string{"jane/orders.ods": "orders of the week"}
	for p, c := range want {
		os.MkdirAll(filepath.Dir(filepath.Join(home, p)), 0o755)
		if err := os.WriteFile(filepath.Join(home, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rootDir := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(rootDir, "etc"), 0o755)
	os.MkdirAll(filepath.Join(rootDir, home), 0o755) // the empty mount point
	fstab := "# the restored system\nLABEL=root / ext4 defaults 0 1\nLABEL=home " + home + " ext4 defaults 0 2\n/swapfile none swap sw 0 0\n"
	if err := os.WriteFile(filepath.Join(rootDir, "etc", "fstab"), []byte(fstab), 0o644); err != nil {
		t.Fatal(err)
	}
	source := filepath.Join(dir, "source.img")
	testutil.SparseFile(t, source, 48<<20)
	testutil.Command(t, "label: gpt\nstart=2048, size=40960, type=L\nstart=43008, size=51200, type=L\n", "sfdisk", "-q", source)
	for _, p := range []struct {
		label, from string
		off, size   int64
	}{{"root", rootDir, 1 << 20, 20 << 20}, {"home", "", 21 << 20, 25 << 20}} {
		img := filepath.Join(dir, p.label+".img")
		args := []string{"-q", "-F", "-L", p.label}
		if p.from != "" {
			args = append(args, "-d", p.from)
		}
		testutil.Command(t, "", "mkfs.ext4", append(args, img, fmt.Sprintf("%dk", p.size>>10))...)
		testutil.Command(t, "", "dd", "if="+img, "of="+source, "bs=1M", fmt.Sprintf("seek=%d", p.off>>20), "conv=notrunc,sparse", "status=none")
	}
	r := localRepo(t, dir)
	if _, err := Capture(ctx, r, CaptureRequest{Machine: "ws1", Disks: []string{source}}, nil); err != nil {
		t.Fatal(err)
	}
	fres, err := files.Backup(ctx, r, files.Options{Machine: "ws1", Paths: []string{home}})
	if err != nil {
		t.Fatal(err)
	}
	plan, target := restoreNewest(t, r, 48<<20)
	sum, root, err := plan.ReplayOnto(ctx, fres.Snapshot, ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if root.Partition.Index != 1 || sum.Added == 0 {
		t.Errorf("ReplayOnto: root partition %d, %d added; want 1 and some", root.Partition.Index, sum.Added)
	}
	part := func(off, size int64) string {
		p := filepath.Join(t.TempDir(), "part.img")
		testutil.Command(t, "", "dd", "if="+target, "of="+p, "bs=1M", fmt.Sprintf("skip=%d", off>>20), fmt.Sprintf("count=%d", size>>20), "status=none")
		testutil.Command(t, "", "e2fsck", "-fn", p)
		return p
	}
	homePart, rootPart := part(21<<20, 25<<20), part(1<<20, 20<<20)
	for p, c := range want {
		if got := testutil.Command(t, "", "debugfs", "-R", "cat /"+p, homePart); !strings.Contains(got, c) {
			t.Errorf("/%s on the home partition = %q, want %q", p, got, c)
		}
	}
	if got := testutil.Command(t, "", "debugfs", "-R", "ls "+filepath.Join(home), rootPart); strings.Contains(got, "jane") {
		t.Errorf("the root filesystem's mount point %s got the files: %s", home, got)
	}
}

// restoreNewest restores the newest image of ws1 in r onto a new blank
// image file of size bytes, confirmed, and returns the plan (closed when
// the test ends) and the file.
func restoreNewest(t *testing.T, r *repo.Repository, size int64) (*RestorePlan, string) {
	t.Helper()
	ctx := context.Background()
	target := filepath.Join(t.TempDir(), "target.img")
	testutil.SparseFile(t, target, size)
	plan, err := PlanRestore(ctx, r, RestoreRequest{Machine: "ws1", Targets: []string{target}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plan.Close() })
	plan.ConfirmAll()
	if _, err := plan.Run(ctx, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	return plan, target
}

// TestReplayOntoLike: the replay in the boot environment takes as what the
// restored disk holds the file snapshot nearest before the image (s1, whose
// files the image holds), not the replayed snapshot's parent (s2, newer
// than the image), and the tree it leaves is exactly the snapshot's:
// names, types, modes, times and contents, deletions included.
func TestReplayOntoLike(t *testing.T) {
	testutil.NeedRoot(t)
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		testutil.Missing(t, "no loop devices here")
	}
	ctx := context.Background()
	dir := t.TempDir()
	r := localRepo(t, dir)
	if _, err := Capture(ctx, r, CaptureRequest{Machine: "ws1", Disks: []string{testutil.SampleDisk(t, 32<<20)}}, nil); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	write := func(p string, b []byte, mtime time.Time) {
		t.Helper()
		p = filepath.Join(home, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	backup := func() *repo.Snapshot {
		t.Helper()
		res, err := files.Backup(ctx, r, files.Options{Machine: "ws1", Paths: []string{home}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Snapshot
	}
	day := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	big := bytes.Repeat([]byte("a line of the ledger, the same as in the image\n"), 20000)
	write("jane/ledger.txt", big, day)
	write("jane/notes.txt", []byte("notes before the image\n"), day)
	write("jane/old/draft.txt", []byte("a draft deleted later\n"), day)
	s1 := backup()

	// The image is taken of a disk holding s1's files.
	plan, first := restoreNewest(t, r, 32<<20)
	if _, _, err := plan.ReplayOnto(ctx, s1, ReplayOptions{}); err != nil {
		t.Fatal(err)
	}
	plan.Close()
	if _, err := Capture(ctx, r, CaptureRequest{Machine: "ws1", Disks: []string{first}}, nil); err != nil {
		t.Fatal(err)
	}

	// s2 and s3 after the image; s3's parent is s2.
	write("jane/notes.txt", []byte("notes after the image, longer than before\n"), day.Add(24*time.Hour))
	write("jane/new.txt", []byte("a new file\n"), day.Add(24*time.Hour))
	if err := os.RemoveAll(filepath.Join(home, "jane", "old")); err != nil {
		t.Fatal(err)
	}
	s2 := backup()
	edited := append([]byte{}, big...)
	copy(edited[len(edited)/2:], "EDITED IN THE MIDDLE")
	write("jane/ledger.txt", edited, day.Add(48*time.Hour))
	if err := os.Chmod(filepath.Join(home, "jane", "new.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3 := backup()
	if s3.Files.Parent != s2.ID().String() {
		t.Fatalf("s3's parent is %s, want s2 %s", s3.Files.Parent, s2.ID())
	}

	plan, target := restoreNewest(t, r, 32<<20)
	tr := progress.NewTracker()
	sum, where, err := plan.ReplayOnto(ctx, s3, ReplayOptions{Progress: tr})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, n := range tr.Status().Notes {
		notes = append(notes, n.Text)
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "file snapshot "+repo.ShortID(s1.ID())+" ") }) {
		t.Errorf("notes of the replay %q; want one naming s1 %s as what the disk holds", notes, repo.ShortID(s1.ID()))
	}
	if sum.Deleted == 0 || sum.Added == 0 || sum.Changed == 0 {
		t.Errorf("replay of s3: %+v; want files added, changed and deleted", sum)
	}

	mnt, _, _ := mountRestored(t, target, where.Partition)
	if diff := cmp.Diff(treeOf(t, home), treeOf(t, filepath.Join(mnt, home))); diff != "" {
		t.Errorf("the replayed tree differs from s3's (-want +got):\n%s", diff)
	}
}

// treeOf describes every entry under root: type and mode, mtime and, for
// files, content.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		s := fmt.Sprintf("%v %s", fi.Mode(), fi.ModTime().UTC().Format(time.RFC3339Nano))
		if fi.Mode().IsRegular() { // a folder's size is its filesystem's
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		if rel != "." { // the folder itself: its time is the walk's
			out[rel] = s
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mountRestored mounts the ext4 of partition part of disk image target
// read-only through a loop device, until the test ends or unmount is
// called; it returns the mountpoint and the loop device's path.
func mountRestored(t *testing.T, target string, part repo.Partition) (mnt, loop string, unmount func()) {
	t.Helper()
	dev, err := loopOver(target, part.Offset, part.Length)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
		dev.Close()
	})
	mnt = t.TempDir()
	if err := unix.Mount(dev.Name(), mnt, "ext4", unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	mounted := true
	unmount = func() {
		if mounted {
			mounted = false
			if err := unix.Unmount(mnt, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(unmount)
	return mnt, dev.Name(), unmount
}
