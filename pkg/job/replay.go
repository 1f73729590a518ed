// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"errors"
	"slices"
	"strings"

	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// ErrNoReplayTarget is returned when no restored filesystem can take a
// file snapshot: a snapshot of Linux needs an ext2/3/4, xfs or btrfs
// partition, one of Windows the NTFS volume with \Windows and \Users,
// which Windows must have left clean (not dirty, not hibernated).
var ErrNoReplayTarget = errors.New("no restored filesystem to replay the user files into")

// replayFS are the filesystems a replay of Linux user files mounts
// read-write in the boot environment, with the kernel's name for each.
// Windows user files go to NTFS, through the kernel's ntfs3 driver.
var replayFS = map[string]string{"ext4": "ext4", "ext3": "ext4", "ext2": "ext4", "xfs": "xfs", "btrfs": "btrfs"}

// mountData are the options a replay mounts a filesystem with: on NTFS,
// file names are UTF-8 whatever the kernel's default. (Not ntfs3's
// nocase: it does not find names in the POSIX namespace, which ntfs-3g
// and WSL write, by another case; a mkdir of one then fails. The replay
// spells the snapshot's paths as the volume does instead.)
var mountData = map[string]string{"ntfs3": "iocharset=utf8"}

// ReplayOptions are the choices of ReplayOnto.
type ReplayOptions struct {
	Progress progress.Reporter
	// LoadFS loads the kernel module of a filesystem type before it is
	// mounted (the boot environment loads modules itself); nil: none.
	LoadFS func(fstype string) error
}

// ReplayTarget is a restored partition a file snapshot replays into.
type ReplayTarget struct {
	Disk      int // index into the plan's disks
	Partition repo.Partition
	FSType    string // as the kernel names it for mount
}

// replayCandidates lists the plan's restored partitions whose filesystem
// a replay may mount, the most likely first: the one whose label or type
// says root, else the largest.
func (p *RestorePlan) replayCandidates() []ReplayTarget {
	var out []ReplayTarget
	for i, d := range p.Disks {
		for _, part := range d.Source.Partitions {
			if fs, ok := replayFS[part.FS]; ok {
				out = append(out, ReplayTarget{Disk: i, Partition: part, FSType: fs})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b ReplayTarget) int {
		ra, rb := rootLike(a.Partition), rootLike(b.Partition)
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return -cmpInt(a.Partition.Length, b.Partition.Length)
	})
	return out
}

func rootLike(p repo.Partition) bool {
	l := strings.ToLower(p.Label + " " + p.Name)
	return strings.Contains(l, "root") || strings.Contains(p.TypeName, "root") || p.Label == "/"
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// topFolders returns the first folder of each of the snapshot's paths
// ("/home/jane" → "home").
func topFolders(s *repo.Snapshot) []string {
	var out []string
	for _, p := range s.Files.Paths {
		p = strings.TrimLeft(strings.ReplaceAll(p, "\\", "/"), "/")
		if first, _, _ := strings.Cut(p, "/"); first != "" && !slices.Contains(out, first) {
			out = append(out, first)
		}
	}
	return out
}
