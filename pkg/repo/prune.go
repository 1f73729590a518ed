// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/store"
)

// tempMaxAge is how old a temporary file must be before prune takes it for
// the leftover of an interrupted write rather than one in progress.
const tempMaxAge = 24 * time.Hour

// PruneOptions change what Prune does.
type PruneOptions struct {
	DryRun bool
	// Wait is how long to wait for other processes' locks to go.
	Wait     time.Duration
	Progress progress.Reporter
	Locker   Locker
}

// PruneResult says what Prune removed (or would remove, in a dry run).
type PruneResult struct {
	Snapshots    int
	Chunks       int   // stored before
	Removed      int   // chunks nothing refers to
	RemovedBytes int64 // their stored size
	Temps        int   // leftover temporary files
	StaleLocks   int
	KeptChunks   int
	KeptBytes    int64
	// Packs (format 2): stored before, removed (nothing in them used, or
	// left without an index by an interrupted capture), and rewritten
	// because most of what they held was unused.
	Packs, RemovedPacks, Repacked int
}

// Prune removes the chunks no snapshot refers to, leftover temporary files
// and stale locks. It holds an exclusive lock while it works, so it never
// runs while a capture, backup or restore does (and they wait for it or
// refuse). It refuses to run when a snapshot cannot be read, since it could
// not know which chunks that snapshot needs.
func (r *Repository) Prune(ctx context.Context, opt PruneOptions) (*PruneResult, error) {
	if opt.Progress == nil {
		opt.Progress = progress.Discard
	}
	who := opt.Locker.fill()
	res := &PruneResult{}
	// The stale locks go first, or the exclusive lock could not be taken;
	// a dry run counts what the run would remove.
	if opt.DryRun {
		locks, err := r.Locks(ctx)
		if err != nil {
			return nil, err
		}
		for _, info := range locks {
			if who.Stale(info) {
				res.StaleLocks++
			}
		}
	} else {
		n, err := r.RemoveStaleLocks(ctx, who)
		if err != nil {
			return nil, err
		}
		res.StaleLocks = n
	}
	lock, err := r.Lock(ctx, true, "prune", "", opt.Wait, who)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock(context.WithoutCancel(ctx))

	opt.Progress.Phase("snapshots", 0)
	used := &BlobSet{} // 16 bytes a blob: a repository of years fits
	if r.Packed() {
		files, err := r.indexFiles(ctx, nil)
		if err != nil {
			return nil, err
		}
		used.Grow(int(min(indexBlobs(files...), 1<<30)))
	}

	err = r.EachSnapshot(ctx, nil, func(h *Head, s *Snapshot, err error) error {
		if err != nil {
			return fmt.Errorf("snapshot %s cannot be read (%w), so prune cannot tell which chunks it needs; nothing was removed. Run 'rewind check', and remove the snapshot with 'rewind forget --id %s' if it is beyond repair", ShortID(h.ID), err, ShortID(h.ID))
		}
		res.Snapshots++
		opt.Progress.Add(progress.Items, 1)
		err = r.Refs(ctx, s, used.Add)
		if err != nil {
			return fmt.Errorf("snapshot %s cannot be read whole (%w), so prune cannot tell which blobs it needs; nothing was removed. Run 'rewind check', and remove the snapshot with 'rewind forget --id %s' if it is beyond repair", ShortID(h.ID), err, ShortID(h.ID))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	if r.Packed() {
		return res, r.prunePacks(ctx, opt, used, res)
	}
	opt.Progress.Phase("chunks", 0)
	var unused []StoredChunk
	var temps []string
	now := who.Now()
	err = r.ListChunks(ctx, func(c StoredChunk) error {
		res.Chunks++
		if used.Has(c.ID) {
			res.KeptChunks++
			res.KeptBytes += c.Size
			return nil
		}
		unused = append(unused, c)
		return nil
	}, func(name string, fi store.Info) error {
		if isTemp(fi.Name) && now.Sub(fi.ModTime) > tempMaxAge {
			temps = append(temps, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	more, err := r.oldTemps(ctx, now, snapshotsDir, locksDir)
	if err != nil {
		return nil, err
	}
	temps = append(temps, more...)

	res.Removed = len(unused)
	for _, c := range unused {
		res.RemovedBytes += c.Size
	}
	res.Temps = len(temps)
	if opt.DryRun {
		return res, nil
	}
	opt.Progress.Phase("remove", int64(len(unused)+len(temps)))
	for _, c := range unused {
		if err := r.removeChunk(ctx, c.ID); err != nil {
			return res, err
		}
		opt.Progress.Add(progress.Done, 1)
	}
	return res, r.removeAll(ctx, temps, opt.Progress)
}

// oldTemps lists the temporary files in dirs old enough to be leftovers.
func (r *Repository) oldTemps(ctx context.Context, now time.Time, dirs ...string) ([]string, error) {
	var temps []string
	for _, dir := range dirs {
		err := r.s.List(ctx, dir, func(fi store.Info) error {
			if isTemp(fi.Name) && now.Sub(fi.ModTime) > tempMaxAge {
				temps = append(temps, dir+"/"+fi.Name)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing %s in %s: %w", dir, r.s.Location(), err)
		}
	}
	return temps, nil
}

// removeAll removes the files names; one gone already is no error.
func (r *Repository) removeAll(ctx context.Context, names []string, rep progress.Reporter) error {
	for _, name := range names {
		if err := r.s.Remove(ctx, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s from %s: %w", name, r.s.Location(), err)
		}
		rep.Add(progress.Done, 1)
	}
	return nil
}
