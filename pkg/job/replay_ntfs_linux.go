// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// replayWindows replays a snapshot of Windows user files (C:\Users\jane)
// onto the restored Windows volume: the NTFS partition that holds \Windows
// and \Users, found by reading each NTFS partition's metadata without
// mounting it. A volume Windows left dirty or hibernated is refused with
// the reason before anything is mounted; otherwise it is mounted
// read-write with the kernel's ntfs3 driver only while the replay runs,
// which syncs it, and unmounted. A path on another drive than C: refuses
// the whole replay first: which restored partition was D: is not written
// on any of them.
func (p *RestorePlan) replayWindows(ctx context.Context, fs *repo.Snapshot, opt ReplayOptions) (*files.ReplaySummary, *ReplayTarget, error) {
	for _, sp := range fs.Files.Paths {
		if d := files.Drive(sp); d != "C:" {
			return nil, nil, fmt.Errorf("%w: %s is not on drive C:, and which restored partition was %s is not known here; start the restored Windows and run rewind files replay there",
				ErrNoReplayTarget, sp, d)
		}
	}
	p.releaseDisks()
	t, err := p.findWindows(ctx)
	if err != nil {
		return nil, nil, err
	}
	m, err := p.mount(t, false, opt.LoadFS)
	if err != nil {
		return nil, t, err
	}
	sum, err := files.Replay(ctx, p.r, fs, files.ReplayOptions{Into: m.dir, Progress: opt.Progress, Like: p.like(ctx, opt.Progress)})
	if uerr := m.unmount(); uerr != nil && err == nil {
		err = uerr
	}
	return sum, t, err
}

// windowsNames are what the root folder of a Windows system volume holds.
var windowsNames = []string{"Windows", "Users"}

// findWindows returns the restored NTFS partition whose root holds
// \Windows and \Users, or ErrNoReplayTarget: when there is none, when
// Windows did not leave it clean (then with the reason and what to do),
// and when there are several: which of them was C: is written on none of
// them, and a guess could put the user files into the wrong Windows, so
// the refusal names each and says how to replay into the one meant.
// Partitions imaged raw are looked at too: a capture images an unclean
// NTFS volume raw, and its manifest then names no filesystem. When no
// volume is found and one is BitLocker's, that is the reason given.
func (p *RestorePlan) findWindows(ctx context.Context) (*ReplayTarget, error) {
	var errs []error
	var locked []string
	type found struct {
		t  ReplayTarget
		st *blockmap.NTFSState
	}
	var wins []found
	for i, d := range p.Disks {
		for _, part := range d.Source.Partitions {
			if part.FS == "bitlocker" {
				locked = append(locked, fmt.Sprintf("partition %d of %s", part.Index, d.Device.Path()))
				continue
			}
			if part.FS != "ntfs" && part.Mode != string(blockmap.Raw) {
				continue
			}
			st, err := checkNTFS(ctx, d.Device.Path(), part)
			if err != nil {
				errs = append(errs, fmt.Errorf("partition %d of %s: %w", part.Index, d.Device.Path(), err))
				continue
			}
			if st == nil || len(st.InRoot) < len(windowsNames) {
				continue
			}
			wins = append(wins, found{ReplayTarget{Disk: i, Partition: part, FSType: "ntfs3"}, st})
		}
	}
	describe := func(w found) string {
		return fmt.Sprintf("%q (partition %d of %s)", w.st.Label, w.t.Partition.Index, p.Disks[w.t.Disk].Device.Path())
	}
	switch {
	case len(wins) > 1:
		var names []string
		for _, w := range wins {
			names = append(names, describe(w))
		}
		return nil, fmt.Errorf("%w: %d restored NTFS volumes hold \\Windows and \\Users: %s, and which of them was C: is not written on them; nothing was written. Mount the one meant with ntfs3 from the shell (mount -t ntfs3 -o iocharset=utf8 /dev/PARTITION /mnt) and run rewind files replay --into /mnt, or start that Windows and run rewind files replay --into C:\\ there",
			ErrNoReplayTarget, len(wins), strings.Join(names, " and "))
	case len(wins) == 1 && len(wins[0].st.Unclean) > 0:
		return nil, fmt.Errorf("%w: the Windows volume %s %s; nothing was written",
			ErrNoReplayTarget, describe(wins[0]), strings.Join(wins[0].st.Unclean, "; and "))
	case len(wins) == 1:
		return &wins[0].t, nil
	}
	if len(locked) > 0 {
		return nil, fmt.Errorf("%w: %s is encrypted with BitLocker, which the boot environment cannot open; start the restored Windows and run rewind files replay --into C:\\ there",
			ErrNoReplayTarget, strings.Join(locked, " and "))
	}
	err := fmt.Errorf("%w: no restored NTFS partition holds \\Windows and \\Users, where Windows user files belong", ErrNoReplayTarget)
	if len(errs) > 0 {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		err = fmt.Errorf("%w (%s)", err, strings.Join(msgs, "; "))
	}
	return nil, err
}

// checkNTFS reads the NTFS metadata of partition part of the restored disk
// at path (a block device or an image file), through the disk itself: the
// partition's device node may still have the old table's bounds.
func checkNTFS(ctx context.Context, path string, part repo.Partition) (*blockmap.NTFSState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return blockmap.CheckNTFS(ctx, io.NewSectionReader(f, part.Offset, part.Length), part.Length, windowsNames...)
}
