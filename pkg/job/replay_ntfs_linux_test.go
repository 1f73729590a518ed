// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/ntfstest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// TestReplayOntoNTFSRefused: a Windows files snapshot is replayed only
// onto the restored NTFS volume that holds \Windows and \Users, and only
// when Windows left it clean. A hibernated one is refused with the reason
// and what to do, a disk without a Windows volume with what it lacks, and
// in both cases the restored disk is not written (nor mounted: the host
// has no ntfs3). The replay itself runs in the boot environment's test
// (pkg/boot TestVMWizardNTFS), where the kernel has ntfs3.
func TestReplayOntoNTFSRefused(t *testing.T) {
	testutil.NeedRoot(t)
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "jane")
	if err := os.MkdirAll(filepath.Join(home, "Documents"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "Documents", "orders.txt"), []byte("orders of the week\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hibr := make([]byte, 64<<10)
	copy(hibr, "HIBR")
	for _, tc := range []struct {
		name string
		fill func(root string)
		want string // regexp of the refusal
	}{
		{"hibernated", func(root string) {
			mkdirs(t, root, "Windows/System32", "Users/jane/Documents")
			if err := os.WriteFile(filepath.Join(root, "hiberfil.sys"), hibr, 0o644); err != nil {
				t.Fatal(err)
			}
		}, `the Windows volume "Win" \(partition 1 of \S+\) belongs to a hibernated Windows .*shut it down fully.*; nothing was written$`},
		{"no Windows", func(root string) {
			mkdirs(t, root, "Users/jane/Documents")
		}, `no restored NTFS partition holds \\Windows and \\Users`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			source, _ := ntfstest.Disk(t, 24<<20, "Win", tc.fill)
			r := localRepo(t, dir)
			if _, err := Capture(ctx, r, CaptureRequest{Machine: "ws1", Disks: []string{source}}, nil); err != nil {
				t.Fatal(err)
			}
			snap := ntfstest.WindowsSnapshot(t, r, "ws1", home, `C:\Users\jane`, nil)
			plan, target := restoreNewest(t, r, 24<<20)
			before, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = plan.ReplayOnto(ctx, snap, ReplayOptions{})
			if !errors.Is(err, ErrNoReplayTarget) || !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Fatalf("ReplayOnto(%s) = %v, want ErrNoReplayTarget matching %q", tc.name, err, tc.want)
			}
			t.Logf("%s: %v", tc.name, err)
			if after, err := os.ReadFile(target); err != nil || !bytes.Equal(before, after) {
				t.Errorf("the restored disk changed during the refused replay (%v)", err)
			}
		})
	}
}

func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplayOntoBitLocker: Windows user files and a restored disk whose
// only Windows volume is encrypted with BitLocker: refused, saying so.
func TestReplayOntoBitLocker(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	testutil.SparseFile(t, img, 4<<20)
	d, err := disk.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p := &RestorePlan{Disks: []PlannedDisk{{Device: d, Source: repo.Disk{Partitions: []repo.Partition{
		{Index: 1, FS: "vfat", Mode: "used-blocks"},
		{Index: 3, FS: "bitlocker", Mode: "raw"},
	}}}}}
	fs := &repo.Snapshot{Kind: repo.KindFiles, Files: &repo.Files{Paths: []string{`C:\Users`}}}
	_, _, err = p.ReplayOnto(context.Background(), fs, ReplayOptions{})
	if !errors.Is(err, ErrNoReplayTarget) || !regexp.MustCompile(`partition 3 of \S+ is encrypted with BitLocker`).MatchString(err.Error()) {
		t.Errorf("ReplayOnto(BitLocker) = %v, want ErrNoReplayTarget naming partition 3 and BitLocker", err)
	}
}

// TestReplayOntoTwoWindows: two restored disks whose NTFS volumes both
// hold \Windows and \Users: which was C: is written on neither, so the
// replay is refused naming both and saying how to choose, and neither disk
// is written.
func TestReplayOntoTwoWindows(t *testing.T) {
	testutil.NeedRoot(t)
	p := &RestorePlan{}
	var images []string
	for _, label := range []string{"Win10", "Win11"} {
		img, size := ntfstest.Disk(t, 24<<20, label, func(root string) { mkdirs(t, root, "Windows/System32", "Users/jane") })
		d, err := disk.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		images = append(images, img)
		p.Disks = append(p.Disks, PlannedDisk{Device: d, Source: repo.Disk{Partitions: []repo.Partition{
			{Index: 1, FS: "ntfs", Mode: "used-blocks", Offset: ntfstest.PartStart, Length: size},
		}}})
	}
	var before [][]byte
	for _, img := range images {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, b)
	}
	fs := &repo.Snapshot{Kind: repo.KindFiles, Files: &repo.Files{Paths: []string{`C:\Users\jane`}}}
	_, _, err := p.ReplayOnto(context.Background(), fs, ReplayOptions{})
	want := regexp.MustCompile(`2 restored NTFS volumes hold \\Windows and \\Users: "Win10" \(partition 1 of ` + regexp.QuoteMeta(images[0]) +
		`\) and "Win11" \(partition 1 of ` + regexp.QuoteMeta(images[1]) + `\).*nothing was written\. Mount the one meant with ntfs3 .*--into /mnt, or start that Windows`)
	if !errors.Is(err, ErrNoReplayTarget) || !want.MatchString(err.Error()) {
		t.Fatalf("ReplayOnto(two Windows volumes) = %v, want ErrNoReplayTarget naming both and how to choose", err)
	}
	for i, img := range images {
		if after, err := os.ReadFile(img); err != nil || !bytes.Equal(before[i], after) {
			t.Errorf("%s changed during the refused replay (%v)", img, err)
		}
	}
}
