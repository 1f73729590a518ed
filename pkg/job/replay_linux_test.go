// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
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
	part := where.Partition
	loop, err := loopOver(target, part.Offset, part.Length)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_CLR_FD, 0)
		loop.Close()
	}()
	mnt := t.TempDir()
	if err := unix.Mount(loop.Name(), mnt, "ext4", unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	for p, c := range want {
		b, err := os.ReadFile(filepath.Join(mnt, home, p))
		if err != nil || string(b) != c {
			t.Errorf("%s on the restored filesystem = %q (%v), want %q", p, b, err, c)
		}
	}
	if _, err := os.Stat(filepath.Join(mnt, "docs", "f00.txt")); err != nil {
		t.Errorf("the image's own files are gone after the replay: %v", err)
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	testutil.Command(t, "", "e2fsck", "-fn", loop.Name())
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
