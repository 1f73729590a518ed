// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/restore"
)

// RestoreRequest is what a person asked to restore.
type RestoreRequest struct {
	Machine string
	Image   string // an image ID (at least 4 hex digits) or "latest"
	// Targets are the disks to write, the image's first disk onto the
	// first: block devices or disk image files.
	Targets []string
	// BootMedia are disks never to write (the boot environment's medium).
	BootMedia []string
}

// CheckTargets refuses a target that must not be written: mounted, in use,
// a boot medium, a partition rather than a disk. PlanRestore calls it; a
// front end may call it earlier to refuse before it opens the repository.
func CheckTargets(req RestoreRequest) error {
	if len(req.Targets) == 0 {
		return errors.New("no target disk given")
	}
	for i, t := range req.Targets {
		for _, u := range req.Targets[:i] {
			if filepath.Clean(u) == filepath.Clean(t) {
				return fmt.Errorf("%s is named twice as a target: give each disk once", t)
			}
		}
		if err := disk.CheckWritable(t, req.BootMedia...); err != nil {
			return err
		}
	}
	return nil
}

// A RestorePlan is a restore ready to run: the image found, each target
// checked and opened. Nothing is written until Run, and Run refuses until
// every target was confirmed by name (Confirm) or the caller said that
// its settings name the targets (ConfirmAll: --yes, an unattended task).
type RestorePlan struct {
	Snap  *repo.Snapshot
	Disks []PlannedDisk
	r     *repo.Repository
}

// PlannedDisk is one target of a plan.
type PlannedDisk struct {
	Source    repo.Disk // the image's disk
	Device    *disk.Device
	confirmed bool
}

// ConfirmName is what a person types to confirm this target: its kernel
// name ("nvme0n1"), or the file name of an image file.
func (d *PlannedDisk) ConfirmName() string {
	if n := d.Device.Name(); n != "" {
		return n
	}
	return filepath.Base(d.Device.Path())
}

// Describe says what the target is: "/dev/sda (500 GB, Samsung SSD 870,
// serial S6P...)".
func (d *PlannedDisk) Describe() string {
	s := fmt.Sprintf("%s (%s", d.Device.Path(), human.Bytes(d.Device.Size()))
	if d.Device.Model() != "" {
		s += ", " + d.Device.Model()
	}
	if d.Device.Serial() != "" {
		s += ", serial " + d.Device.Serial()
	}
	return s + ")"
}

// Sentence says in one sentence what the restore does to this target.
func (p *RestorePlan) Sentence(i int) string {
	d := &p.Disks[i]
	return fmt.Sprintf("This overwrites %s with disk %s of image %s of %s taken %s.",
		d.Describe(), d.Source.Name, repo.ShortID(p.Snap.ID()), p.Snap.Machine, p.Snap.Time.Local().Format("2006-01-02 15:04"))
}

// PlanRestore finds the image req names in r, checks every target
// (CheckTargets, then that it is large enough) and opens it for writing.
// Close the plan when done with it.
func PlanRestore(ctx context.Context, r *repo.Repository, req RestoreRequest) (*RestorePlan, error) {
	if req.Machine == "" {
		return nil, errors.New("no machine given: say whose image to restore")
	}
	if err := CheckTargets(req); err != nil {
		return nil, err
	}
	image := req.Image
	if image == "" {
		image = "latest"
	}
	snap, err := r.FindSnapshot(ctx, req.Machine, repo.KindImage, image)
	if err != nil {
		return nil, err
	}
	if len(req.Targets) > len(snap.Image.Disks) {
		return nil, fmt.Errorf("image %s of %s has %d disks, but %d targets were given", repo.ShortID(snap.ID()), req.Machine, len(snap.Image.Disks), len(req.Targets))
	}
	p := &RestorePlan{Snap: snap, r: r}
	for i, path := range req.Targets {
		d, err := disk.OpenWrite(path)
		if err != nil {
			p.Close()
			return nil, err
		}
		src := snap.Image.Disks[i]
		p.Disks = append(p.Disks, PlannedDisk{Source: src, Device: d})
		if why := TooSmall(src, d.Size()); why != "" {
			p.Close()
			return nil, fmt.Errorf("%s: %s: %w", path, why, restore.ErrTooSmall)
		}
	}
	return p, nil
}

// Confirm records that a person typed typed to confirm target i. Anything
// but the target's ConfirmName is refused.
func (p *RestorePlan) Confirm(i int, typed string) error {
	d := &p.Disks[i]
	if strings.TrimSpace(typed) != d.ConfirmName() {
		return fmt.Errorf("confirmation %q does not match %q: nothing was written", strings.TrimSpace(typed), d.ConfirmName())
	}
	d.confirmed = true
	return nil
}

// ConfirmAll confirms every target without asking: for --yes and
// unattended tasks, whose settings name the targets.
func (p *RestorePlan) ConfirmAll() {
	for i := range p.Disks {
		p.Disks[i].confirmed = true
	}
}

// Targets returns the targets' paths.
func (p *RestorePlan) Targets() []string {
	var out []string
	for _, d := range p.Disks {
		out = append(out, d.Device.Path())
	}
	return out
}

// RestoreOptions are the choices of a restore run.
type RestoreOptions struct {
	NoVerify   bool
	VerifyFull bool // read back every chunk, not only those written
	ZeroUnused bool
	Progress   progress.Reporter
}

// Run restores the plan's image onto its targets. It refuses to start
// unless every target is confirmed.
func (p *RestorePlan) Run(ctx context.Context, opt RestoreOptions) (*restore.Summary, error) {
	var targets []restore.Target
	blank := true
	for i := range p.Disks {
		d := &p.Disks[i]
		if !d.confirmed {
			return nil, fmt.Errorf("%s was not confirmed: nothing was written", d.Device.Path())
		}
		targets = append(targets, d.Device)
		blank = blank && empty(d.Device)
	}
	// Blank targets (no table, a zero start: new disks) are written without
	// comparing first: reading them only costs time (most of a full
	// restore's CPU went to it), and everything is read back after.
	// A restore cut off has written a table, so its rerun compares.
	return restore.Restore(ctx, p.r, p.Snap, targets, restore.Options{NoVerify: opt.NoVerify, VerifyFull: opt.VerifyFull, ZeroUnused: opt.ZeroUnused, Overwrite: blank, Progress: opt.Progress})
}

// Close closes the plan's targets.
func (p *RestorePlan) Close() {
	for _, d := range p.Disks {
		d.Device.Close()
	}
	p.Disks = nil
}

// NeedBytes is the smallest disk the image's disk d can be restored onto:
// the end of its last partition or boot area.
func NeedBytes(d repo.Disk) int64 {
	var end int64
	for _, a := range d.Areas() {
		end = max(end, a.Offset+a.Length)
	}
	return end
}

// TooSmall says why a disk of size bytes cannot take the image's disk d,
// or "" when it can. (restore.Restore checks again, against the partition
// table it writes.)
func TooSmall(d repo.Disk, size int64) string {
	need := NeedBytes(d)
	if size >= need || size == d.Size {
		return ""
	}
	return fmt.Sprintf("too small: the disk holds %s but the image's partitions need %s; use a disk at least that large", human.Bytes(size), human.Bytes(need))
}

// Verification names the read-back a restore ran, for its report:
// "written" (what it wrote; the compare pass checked the rest), "full", or
// "none".
func Verification(sum *restore.Summary) string {
	switch {
	case !sum.Verified:
		return "none"
	case sum.VerifiedAll:
		return "full"
	}
	return "written"
}
