// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/store"
)

// CheckOptions say how thorough Check is.
type CheckOptions struct {
	// ReadData reads every stored chunk and checks it against its id.
	ReadData bool
	// Workers read chunks in parallel (default 8: several requests in
	// flight over SMB).
	Workers  int
	Progress progress.Reporter
}

// CheckResult is what Check found. Problems are things that are broken (a
// restore would fail); Warnings are things to tidy.
type CheckResult struct {
	Snapshots  int
	Chunks     int   // stored
	ChunkBytes int64 // stored, as stored
	Read       int   // chunks read with ReadData
	Problems   []string
	Warnings   []string
}

// Check verifies the repository: every snapshot readable and well-formed,
// every chunk it names present, and with ReadData every chunk's content
// matching its id. It returns an error only when it could not do its job;
// what it finds broken is in the result.
func (r *Repository) Check(ctx context.Context, opt CheckOptions) (*CheckResult, error) {
	if opt.Progress == nil {
		opt.Progress = progress.Discard
	}
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	res := &CheckResult{}
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		mu.Lock()
		res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}

	opt.Progress.Phase("snapshots", 0)
	// Who needs each chunk, for messages: the first snapshot naming it, as
	// an index into users. Snapshots are walked one at a time; only their
	// chunk ids stay.
	var users []*Head
	needs := make(map[chunk.ID]int32)
	err := r.EachSnapshot(ctx, nil, func(h *Head, s *Snapshot, err error) error {
		opt.Progress.Add(progress.Items, 1)
		if err != nil {
			problem("snapshot %s%s cannot be used: %v", ShortID(h.ID), h.describe(), err)
			return nil
		}
		res.Snapshots++
		users = append(users, h)
		u := int32(len(users) - 1)
		s.Refs(func(id chunk.ID) {
			if _, ok := needs[id]; !ok {
				needs[id] = u
			}
		})
		return nil
	})
	if err != nil {
		return nil, err
	}

	opt.Progress.Phase("chunks", 0)
	stored := make(map[chunk.ID]int64)
	var temps int
	err = r.ListChunks(ctx, func(c StoredChunk) error {
		stored[c.ID] = c.Size
		res.ChunkBytes += c.Size
		return nil
	}, func(name string, fi store.Info) error {
		switch {
		case isTemp(fi.Name):
			temps++
		case fi.Name != keepFile:
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s is not a chunk; remove it", name))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Chunks = len(stored)
	if temps > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d temporary files left by interrupted writes; prune removes them after a day", temps))
	}
	// Missing chunks by the first snapshot needing them; a few named per
	// snapshot, the rest counted, so that the report stays short and small
	// however much is gone.
	missing := make([][]chunk.ID, len(users))
	counts := make([]int, len(users))
	for id, u := range needs {
		if _, ok := stored[id]; !ok {
			counts[u]++
			if len(missing[u]) < maxMissingNamed {
				missing[u] = append(missing[u], id)
			}
		}
	}
	for u, h := range users {
		for _, id := range missing[u] {
			problem("chunk %s is missing; snapshot %s of %s (%s) needs it", id, ShortID(h.ID), h.Machine, h.Time.Local().Format("2006-01-02 15:04"))
		}
		if n := counts[u] - len(missing[u]); n > 0 {
			problem("%d more chunks are missing that snapshot %s of %s (%s) needs", n, ShortID(h.ID), h.Machine, h.Time.Local().Format("2006-01-02 15:04"))
		}
	}

	if opt.ReadData {
		if err := r.checkData(ctx, opt, stored, needs, users, problem, res); err != nil {
			return nil, err
		}
	}

	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	for name, l := range locks {
		if (Locker{}).Stale(l) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("lock %s by %s on %s (pid %d) is stale: its process is gone; prune removes it", name, l.Op, l.Host, l.PID))
		}
	}
	sort.Strings(res.Warnings)
	return res, nil
}

// maxMissingNamed is how many missing chunks Check names per snapshot.
const maxMissingNamed = 10

// describe says whose a snapshot is, as far as its head tells.
func (h *Head) describe() string {
	if !h.Known() {
		return " (of an unknown machine)"
	}
	return fmt.Sprintf(" (%s of %s, %s)", h.Kind, h.Machine, h.Time.Local().Format("2006-01-02 15:04"))
}

func (r *Repository) checkData(ctx context.Context, opt CheckOptions, stored map[chunk.ID]int64, needs map[chunk.ID]int32, users []*Head, problem func(string, ...any), res *CheckResult) error {
	var total int64
	for _, n := range stored {
		total += n
	}
	opt.Progress.Phase("read-data", total)
	ids := make(chan chunk.ID)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(ids)
		for id := range stored {
			select {
			case ids <- id:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var read sync.Mutex
	for range opt.Workers {
		g.Go(func() error {
			buf := make([]byte, r.cfg.MaxChunkSize)
			for id := range ids {
				_, err := r.LoadChunk(gctx, id, buf)
				if gctx.Err() != nil {
					return gctx.Err()
				}
				if err != nil {
					if u, ok := needs[id]; ok {
						problem("%v; snapshot %s of %s needs it", err, ShortID(users[u].ID), users[u].Machine)
					} else {
						problem("%v; no snapshot needs it, prune removes it", err)
					}
				}
				opt.Progress.Add(progress.Done, stored[id])
				opt.Progress.Add(progress.Fetched, stored[id])
				read.Lock()
				res.Read++
				read.Unlock()
			}
			return nil
		})
	}
	return g.Wait()
}
