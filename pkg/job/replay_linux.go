// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// ReplayOnto replays file snapshot fs onto the disks the plan restored,
// as the restored system would see them: it finds the root filesystem (the
// one with /etc/fstab, else one that holds the snapshot's folders, else
// the likeliest), sends each of the snapshot's folders to the filesystem
// that fstab mounts there (/home on a partition of its own), and mounts
// each of those in turn, read-write only while it replays into it. A
// folder on a filesystem the restored disks do not hold (LVM, the network)
// refuses the whole replay before anything is written. It returns the
// summary of all and the root's partition. What the restored disks hold
// of the user files is taken from the file snapshot nearest before the
// image (RestorePlan.like), checked file by file. A snapshot of Windows paths
// (C:\Users\jane) goes to the restored Windows volume instead
// (replayWindows). The plan's restore must have finished.
func (p *RestorePlan) ReplayOnto(ctx context.Context, fs *repo.Snapshot, opt ReplayOptions) (*files.ReplaySummary, *ReplayTarget, error) {
	if fs.Files == nil {
		return nil, nil, fmt.Errorf("snapshot %s is not a files snapshot", repo.ShortID(fs.ID()))
	}
	if slices.ContainsFunc(fs.Files.Paths, func(p string) bool { return files.Drive(p) != "" }) {
		return p.replayWindows(ctx, fs, opt)
	}
	cands := p.replayCandidates()
	if len(cands) == 0 {
		return nil, nil, fmt.Errorf("%w: the image has no ext4, xfs or btrfs partition for these Linux user files", ErrNoReplayTarget)
	}
	p.releaseDisks()
	root, fstab, err := p.findRoot(cands, topFolders(fs), opt.LoadFS)
	if err != nil {
		return nil, nil, err
	}

	// Which filesystem each of the snapshot's folders goes to.
	type group struct {
		target *ReplayTarget
		paths  []string
		maps   []string
	}
	var groups []*group
	groupOf := func(t *ReplayTarget) *group {
		for _, g := range groups {
			if g.target == t {
				return g
			}
		}
		g := &group{target: t}
		groups = append(groups, g)
		return g
	}
	for _, sp := range fs.Files.Paths {
		tp := path.Clean("/" + strings.ReplaceAll(sp, "\\", "/"))
		e, ok := mountFor(fstab, tp)
		if !ok {
			g := groupOf(root)
			g.paths = append(g.paths, sp)
			continue
		}
		var t *ReplayTarget
		for i := range cands {
			if specMatches(e.Spec, cands[i].Partition) {
				t = &cands[i]
			}
		}
		if t == nil {
			return nil, nil, fmt.Errorf("%w: %s is on the filesystem the restored system mounts at %s (%s in its /etc/fstab), which is not one of the restored partitions the boot environment writes; start the restored system and run rewind files replay there",
				ErrNoReplayTarget, sp, e.Dir, e.Spec)
		}
		g := groupOf(t)
		g.paths = append(g.paths, sp)
		g.maps = append(g.maps, e.Dir+"=/")
	}

	like := p.like(ctx, opt.Progress)
	sum := &files.ReplaySummary{}
	for _, g := range groups {
		m, err := p.mount(g.target, false, opt.LoadFS)
		if err != nil {
			return sum, root, err
		}
		s, err := files.Replay(ctx, p.r, fs, files.ReplayOptions{Into: m.dir, Paths: g.paths, Map: g.maps, Progress: opt.Progress, Like: like})
		if uerr := m.unmount(); uerr != nil && err == nil {
			err = uerr
		}
		if s != nil {
			sum.Added += s.Added
			sum.Changed += s.Changed
			sum.Deleted += s.Deleted
			sum.Unchanged += s.Unchanged
			sum.Unread += s.Unread
			sum.Written += s.Written
			sum.Reused += s.Reused
			sum.Fetched += s.Fetched
			sum.Problems = append(sum.Problems, s.Problems...)
			sum.Duration += s.Duration
		}
		if err != nil {
			return sum, root, err
		}
	}
	return sum, root, nil
}

// releaseDisks closes the plan's block devices: the restore opened them
// exclusively, which keeps the kernel from mounting their partitions, and
// it is done with them.
func (p *RestorePlan) releaseDisks() {
	for _, d := range p.Disks {
		if d.Device.IsBlock() {
			d.Device.Close()
		}
	}
}

// findRoot looks at each candidate read-only and returns the restored
// system's root filesystem with its fstab: the first holding /etc/fstab,
// else the first holding one of the snapshot's top folders, else the first
// that mounts.
func (p *RestorePlan) findRoot(cands []ReplayTarget, tops []string, loadFS func(string) error) (*ReplayTarget, []fstabEntry, error) {
	var withTops, mounts *ReplayTarget
	var errs []error
	for i := range cands {
		c := &cands[i]
		m, err := p.mount(c, true, loadFS)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var fstab []fstabEntry
		hasFstab := false
		if f, err := os.Open(filepath.Join(m.dir, "etc", "fstab")); err == nil {
			fstab, hasFstab = parseFstab(f), true
			f.Close()
		}
		holds := holdsAny(m.dir, tops)
		m.unmount()
		switch {
		case hasFstab:
			return c, fstab, nil
		case holds && withTops == nil:
			withTops = c
		case mounts == nil:
			mounts = c
		}
	}
	switch {
	case withTops != nil:
		return withTops, nil, nil
	case mounts != nil:
		return mounts, nil, nil
	}
	return nil, nil, fmt.Errorf("%w: %w", ErrNoReplayTarget, errors.Join(errs...))
}

func holdsAny(dir string, tops []string) bool {
	for _, t := range tops {
		if fi, err := os.Stat(filepath.Join(dir, t)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// mounted is a filesystem mounted for a replay.
type mounted struct {
	dir  string
	loop *os.File // the loop device of a disk image file, or nil
}

// mount mounts target c on a new folder, read-only to look at it.
func (p *RestorePlan) mount(c *ReplayTarget, readOnly bool, loadFS func(string) error) (*mounted, error) {
	d := p.Disks[c.Disk].Device
	m := &mounted{}
	var dev string
	if d.IsBlock() {
		var err error
		if dev, err = waitPartition(d.Path(), c.Partition); err != nil {
			return nil, err
		}
	} else {
		// A disk image file (tests, demos): a loop device over the
		// partition's bytes.
		f, err := loopOver(d.Path(), c.Partition.Offset, c.Partition.Length)
		if err != nil {
			return nil, err
		}
		m.loop, dev = f, f.Name()
	}
	dir, err := os.MkdirTemp("", "rewind-replay-")
	if err != nil {
		m.release()
		return nil, err
	}
	m.dir = dir
	if loadFS != nil {
		loadFS(c.FSType) // a failure shows as the mount's
	}
	flags := uintptr(unix.MS_NOATIME)
	if readOnly {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount(dev, dir, c.FSType, flags, mountData[c.FSType]); err != nil {
		m.release()
		return nil, fmt.Errorf("mounting partition %d (%s) of %s: %w", c.Partition.Index, c.FSType, d.Path(), err)
	}
	return m, nil
}

func (m *mounted) unmount() error {
	err := unix.Unmount(m.dir, 0)
	if err != nil {
		err = fmt.Errorf("unmounting %s after the replay: %w", m.dir, err)
	}
	m.release()
	return err
}

func (m *mounted) release() {
	if m.loop != nil {
		unix.IoctlSetInt(int(m.loop.Fd()), unix.LOOP_CLR_FD, 0)
		m.loop.Close()
	}
	if m.dir != "" {
		os.Remove(m.dir)
	}
}

// waitPartition returns the device node of partition part of the disk at
// path once the kernel shows it where the restored table puts it, asking
// the kernel to read the partition table again if it does not: the
// restore asked once, while it held the disk. A node with other bounds is
// the old table's, never mounted.
func waitPartition(path string, part repo.Partition) (string, error) {
	node := partitionNode(path, part.Index)
	sys := filepath.Join("/sys/class/block", filepath.Base(node))
	for try := 0; try < 50; try++ {
		start, err1 := os.ReadFile(filepath.Join(sys, "start"))
		size, err2 := os.ReadFile(filepath.Join(sys, "size"))
		if err1 == nil && err2 == nil {
			if strings.TrimSpace(string(start)) == fmt.Sprint(part.Offset/512) && strings.TrimSpace(string(size)) == fmt.Sprint(part.Length/512) {
				return node, nil
			}
		}
		if try%10 == 5 {
			if f, err := os.Open(path); err == nil {
				unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
				f.Close()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("partition %d of %s does not appear as %s where the restored table puts it: the kernel still has the old partition table; reboot and replay from the restored system", part.Index, path, node)
}

// partitionNode is the device node of partition index of disk path:
// /dev/sda → /dev/sda1, /dev/nvme0n1 → /dev/nvme0n1p1.
func partitionNode(path string, index int) string {
	if r := []rune(path); len(r) > 0 && unicode.IsDigit(r[len(r)-1]) {
		return fmt.Sprintf("%sp%d", path, index)
	}
	return fmt.Sprintf("%s%d", path, index)
}

// loopOver attaches a free loop device to length bytes of file at off.
func loopOver(file string, off, length int64) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("loop devices: %w", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		return nil, fmt.Errorf("finding a free loop device: %w", err)
	}
	back, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer back.Close()
	loop, err := os.OpenFile(fmt.Sprintf("/dev/loop%d", n), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	cfg := unix.LoopConfig{Fd: uint32(back.Fd())}
	cfg.Info.Offset, cfg.Info.Sizelimit = uint64(off), uint64(length)
	copy(cfg.Info.File_name[:], strings.TrimPrefix(filepath.Base(file), "/"))
	if err := unix.IoctlLoopConfigure(int(loop.Fd()), &cfg); err != nil {
		loop.Close()
		return nil, fmt.Errorf("attaching %s to %s: %w", file, loop.Name(), err)
	}
	return loop, nil
}
