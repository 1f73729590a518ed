// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// ReplayOnto replays file snapshot fs onto the disks the plan restored:
// it mounts the restored filesystem that holds the snapshot's folders (or,
// when none does, the likeliest root filesystem), replays into it, and
// unmounts it. It returns the replay's summary and the partition used.
// The plan's restore must have finished: the partitions are read as they
// are now.
func (p *RestorePlan) ReplayOnto(ctx context.Context, fs *repo.Snapshot, opt ReplayOptions) (*files.ReplaySummary, *ReplayTarget, error) {
	if fs.Files == nil {
		return nil, nil, fmt.Errorf("snapshot %s is not a files snapshot", repo.ShortID(fs.ID()))
	}
	cands := p.replayCandidates()
	if len(cands) == 0 {
		return nil, nil, fmt.Errorf("%w: the image has no ext4, xfs or btrfs partition (a Windows disk is replayed from Windows: rewind files replay --into C:\\)", ErrNoReplayTarget)
	}
	// The restore opened the disks exclusively, which keeps the kernel
	// from mounting their partitions: it is done with them.
	for _, d := range p.Disks {
		if d.Device.IsBlock() {
			d.Device.Close()
		}
	}
	tops := topFolders(fs)
	var chosen, fallback *ReplayTarget
	var mnt, fbMnt *mounted
	var errs []error
	for i := range cands {
		c := &cands[i]
		m, err := p.mount(c, opt.LoadFS)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if holdsAny(m.dir, tops) {
			chosen, mnt = c, m
			break
		}
		if fbMnt == nil {
			// The likeliest root that mounts, should none hold the
			// snapshot's folders (they were created since the image).
			fallback, fbMnt = c, m
			continue
		}
		m.unmount()
	}
	switch {
	case mnt != nil && fbMnt != nil:
		fbMnt.unmount()
	case mnt == nil:
		chosen, mnt = fallback, fbMnt
	}
	if mnt == nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNoReplayTarget, errors.Join(errs...))
	}
	sum, err := files.Replay(ctx, p.r, fs, files.ReplayOptions{Into: mnt.dir, Progress: opt.Progress})
	if uerr := mnt.unmount(); uerr != nil && err == nil {
		err = uerr
	}
	return sum, chosen, err
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

// mount mounts target c read-write on a new folder.
func (p *RestorePlan) mount(c *ReplayTarget, loadFS func(string) error) (*mounted, error) {
	d := p.Disks[c.Disk].Device
	m := &mounted{}
	var dev string
	if d.IsBlock() {
		var err error
		if dev, err = waitPartition(d.Path(), c.Partition.Index); err != nil {
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
	if err := unix.Mount(dev, dir, c.FSType, unix.MS_NOATIME, ""); err != nil {
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

// waitPartition returns the device node of partition index of the disk at
// path once it exists, asking the kernel to read the partition table again
// if it does not appear: the restore asked once, while it held the disk.
func waitPartition(path string, index int) (string, error) {
	node := partitionNode(path, index)
	for try := 0; try < 50; try++ {
		if _, err := os.Stat(node); err == nil {
			return node, nil
		}
		if try%10 == 5 {
			if f, err := os.Open(path); err == nil {
				unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
				f.Close()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("partition %d of %s did not appear as %s: the kernel has not read the new partition table; reboot and replay from the restored system", index, path, node)
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
