// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Policy says which snapshots of one machine and kind to keep. A snapshot
// is kept when any rule keeps it.
type Policy struct {
	Last    int // the newest Last snapshots
	Daily   int // the newest snapshot of each of the last Daily days that have one
	Weekly  int // ... of each of the last Weekly ISO weeks that have one
	Monthly int // ... of each of the last Monthly months that have one
}

// Empty reports whether the policy keeps nothing, which forget refuses.
func (p Policy) Empty() bool {
	return p.Last <= 0 && p.Daily <= 0 && p.Weekly <= 0 && p.Monthly <= 0
}

// Apply splits snaps (one machine and kind, any order) into those to keep
// and those to remove, each newest first. Times are bucketed in loc.
func (p Policy) Apply(snaps []*Snapshot, loc *time.Location) (keep, remove []*Snapshot) {
	sorted := append([]*Snapshot(nil), snaps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time.After(sorted[j].Time) })
	type bucket struct {
		left int
		last string
		key  func(time.Time) string
	}
	buckets := []*bucket{
		{p.Daily, "", func(t time.Time) string { return t.Format("2006-01-02") }},
		{p.Weekly, "", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{p.Monthly, "", func(t time.Time) string { return t.Format("2006-01") }},
	}
	for i, s := range sorted {
		t := s.Time.In(loc)
		kept := i < p.Last
		for _, b := range buckets {
			if b.left <= 0 {
				continue
			}
			if k := b.key(t); k != b.last {
				b.last = k
				b.left--
				kept = true
			}
		}
		if kept {
			keep = append(keep, s)
		} else {
			remove = append(remove, s)
		}
	}
	return keep, remove
}

// ForgetResult lists what Forget kept and removed, per machine and kind.
type ForgetResult struct {
	Keep, Remove []*Snapshot
}

// Forget applies policy to the snapshots of machine (all machines when
// empty), grouped by machine and kind, and removes what it does not keep
// unless dryRun. The chunks stay until prune. The snapshots in the result
// carry their machine, kind, time, host and note, not their content.
func (r *Repository) Forget(ctx context.Context, machine string, policy Policy, dryRun bool) (*ForgetResult, error) {
	if policy.Empty() {
		return nil, errors.New("the policy keeps nothing: give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly")
	}
	// Each snapshot is loaded (an unreadable one stops forget, which could
	// not tell what it is), and only what the policy and the report need
	// is kept of it.
	groups := make(map[[2]string][]*Snapshot)
	err := r.EachSnapshot(ctx, func(h *Head) bool {
		return machine == "" || h.Machine == machine || !h.Known()
	}, func(h *Head, s *Snapshot, err error) error {
		if err != nil {
			return err
		}
		if machine == "" || s.Machine == machine {
			k := [2]string{s.Machine, s.Kind}
			groups[k] = append(groups[k], &Snapshot{Version: s.Version, Kind: s.Kind, Machine: s.Machine, Time: s.Time, Host: s.Host, Note: s.Note, Duration: s.Duration, id: s.id})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if machine != "" && len(groups) == 0 {
		return nil, fmt.Errorf("machine %q has no snapshots in %s", machine, r.s.Location())
	}
	res := &ForgetResult{}
	for _, g := range groups {
		keep, remove := policy.Apply(g, time.Local)
		res.Keep = append(res.Keep, keep...)
		res.Remove = append(res.Remove, remove...)
	}
	if !dryRun {
		if err := r.RemoveSnapshots(ctx, res.Remove); err != nil {
			return res, err
		}
	}
	return res, nil
}

// RemoveSnapshots deletes the given snapshots. Their chunks stay until prune.
func (r *Repository) RemoveSnapshots(ctx context.Context, snaps []*Snapshot) error {
	for _, s := range snaps {
		if err := r.RemoveSnapshotID(ctx, s.id); err != nil {
			return err
		}
	}
	return nil
}
