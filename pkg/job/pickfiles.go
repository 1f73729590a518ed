// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"fmt"
	"time"

	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// FilesToReplay returns the file snapshot of machine that a restore of
// image img replays after it, as ref names it (an unattended restore's
// files setting):
//
//   - "latest" or "": the machine's newest file snapshot, when it was
//     taken after the image; else nil, with why there is nothing to replay;
//   - "none": nil;
//   - a snapshot id: that file snapshot of the machine. There being none,
//     or its being older than the image, is an error: a snapshot named is
//     never swapped for another, and one older than the image would turn
//     back the newer files the image holds.
//
// It reads the repository only: call it after PlanRestore and before Run,
// so that a refusal comes before anything is written.
func FilesToReplay(ctx context.Context, r *repo.Repository, machine string, img *repo.Snapshot, ref string) (snap *repo.Snapshot, why string, err error) {
	const none = "no user files to replay: "
	switch ref {
	case "none":
		return nil, none + "files=none", nil
	case "", "latest":
		heads, err := r.Heads(ctx)
		if err != nil {
			return nil, "", err
		}
		var newest *repo.Head
		unknown := false
		for i := range heads {
			h := &heads[i]
			switch {
			case !h.Known():
				unknown = true
			case h.Machine == machine && h.Kind == repo.KindFiles && (newest == nil || h.Time.After(newest.Time)):
				newest = h
			}
		}
		if newest == nil && !unknown {
			return nil, none + fmt.Sprintf("machine %s has no file snapshot", machine), nil
		}
		// FindSnapshot refuses to pick when a snapshot it cannot read
		// might be the newest.
		snap, err := r.FindSnapshot(ctx, machine, repo.KindFiles, "latest")
		if err != nil {
			return nil, "", fmt.Errorf("the user files to replay after the image: %w", err)
		}
		if !snap.Time.After(img.Time) {
			return nil, none + fmt.Sprintf("the newest file snapshot of %s (%s, %s) is not newer than image %s (%s)",
				machine, repo.ShortID(snap.ID()), stamp(snap.Time), repo.ShortID(img.ID()), stamp(img.Time)), nil
		}
		return snap, "", nil
	}
	snap, err = r.FindSnapshot(ctx, machine, repo.KindFiles, ref)
	if err != nil {
		return nil, "", fmt.Errorf("files=%s: %w; nothing was written", ref, err)
	}
	if !snap.Time.After(img.Time) {
		return nil, "", fmt.Errorf("files=%s: file snapshot %s (%s) is older than image %s (%s), and replaying it would turn back the newer files the image holds; name a newer one, or files=latest or files=none; nothing was written",
			ref, repo.ShortID(snap.ID()), stamp(snap.Time), repo.ShortID(img.ID()), stamp(img.Time))
	}
	return snap, "", nil
}

func stamp(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }

// LikeHead returns the head of the file snapshot of machine taken nearest
// before or at time at, or nil: what a disk restored from an image taken at
// that time holds of the user files.
func LikeHead(heads []repo.Head, machine string, at time.Time) *repo.Head {
	var best *repo.Head
	for i := range heads {
		h := &heads[i]
		if !h.Known() || h.Machine != machine || h.Kind != repo.KindFiles || h.Time.After(at) {
			continue
		}
		if best == nil || h.Time.After(best.Time) {
			best = h
		}
	}
	return best
}

// like returns the file snapshot a replay onto the plan's restored disks
// takes as what they hold already (files.ReplayOptions.Like): the one of
// the image's machine nearest before or at the image. It is a hint: nil
// when there is none or it cannot be read, and the replay then leaves it to
// its default (the replayed snapshot's parent). rep hears which it is.
func (p *RestorePlan) like(ctx context.Context, rep progress.Reporter) *repo.Snapshot {
	heads, err := p.r.Heads(ctx)
	if err != nil {
		return nil
	}
	h := LikeHead(heads, p.Snap.Machine, p.Snap.Time)
	if h == nil || h.Err != nil {
		return nil
	}
	s, err := p.r.LoadSnapshot(ctx, h.ID)
	if err != nil || s.Files == nil {
		return nil
	}
	if rep != nil {
		rep.Note(progress.Info, fmt.Sprintf("what the restored disk holds of the user files is taken from file snapshot %s (%s, the nearest before image %s), checked file by file",
			repo.ShortID(h.ID), stamp(h.Time), repo.ShortID(p.Snap.ID())))
	}
	return s
}
