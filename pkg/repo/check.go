// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
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
	Packs      int   // stored (format 2)
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
		err = r.Refs(ctx, s, func(id chunk.ID) bool {
			if _, ok := needs[id]; !ok {
				needs[id] = u
				return true
			}
			return false
		})
		if err != nil && ctx.Err() == nil {
			problem("snapshot %s%s cannot be used: %v", ShortID(h.ID), h.describe(), err)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}

	opt.Progress.Phase("chunks", 0)
	stored := make(map[chunk.ID]int64)
	var temps int
	var packs map[chunk.ID]*storedPack
	if r.Packed() {
		packs, err = r.checkPacks(ctx, stored, problem, res)
		if err != nil {
			return nil, err
		}
	}
	listChunks := r.ListChunks
	if r.Packed() {
		listChunks = func(context.Context, func(StoredChunk) error, func(string, store.Info) error) error { return nil }
	}
	err = listChunks(ctx, func(c StoredChunk) error {
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
	if !r.Packed() {
		res.Chunks = len(stored)
	}
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

	switch {
	case opt.ReadData && r.Packed():
		if err := r.checkPackData(ctx, opt, packs, needs, users, problem, res); err != nil {
			return nil, err
		}
	case opt.ReadData:
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

// checkPacks learns, for Check, what the packs of a format-2 repository
// hold: each blob's stored size goes to stored.
func (r *Repository) checkPacks(ctx context.Context, stored map[chunk.ID]int64, problem func(string, ...any), res *CheckResult) (map[chunk.ID]*storedPack, error) {
	indexed := make(map[chunk.ID]bool)
	packs, _, temps, err := r.packInventory(ctx, func(name string, err error) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s cannot be used (%v); prune replaces it", name, err))
	}, func(name chunk.ID, err error) {
		problem("%v", err)
	})
	if err != nil {
		return nil, err
	}
	// Which packs an index lists, to tell a capture's leftovers.
	err = r.eachIndex(ctx, func(_, pk chunk.ID, _ []pack.Blob) error {
		indexed[pk] = true
		if _, ok := packs[pk]; !ok {
			res.Warnings = append(res.Warnings, fmt.Sprintf("an index lists pack %s, which is gone; prune tidies the index", pk.Short()))
		}
		return nil
	}, nil)
	if err != nil {
		return nil, err
	}
	var unindexed int
	data := make(map[chunk.ID]bool)
	for name, p := range packs {
		if !indexed[name] {
			unindexed++
		}
		res.Packs++
		res.ChunkBytes += p.size
		for _, b := range p.blobs {
			if _, ok := stored[b.ID]; !ok {
				stored[b.ID] = int64(b.Length)
			}
			if b.Type == pack.Data {
				data[b.ID] = true
			}
		}
	}
	// Chunks counts the disks' data; the images' chunk lists are blobs too.
	res.Chunks = len(data)
	if unindexed > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d packs are in no index (left by an interrupted capture or prune); prune removes or indexes them", unindexed))
	}
	if len(temps) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d temporary files in the pack folders, left by interrupted writes; prune removes them after a day", len(temps)))
	}
	return packs, nil
}

// checkPackData reads every pack whole: its bytes against its name, its
// trailer against what the index files say it holds, and every blob
// against its id.
func (r *Repository) checkPackData(ctx context.Context, opt CheckOptions, packs map[chunk.ID]*storedPack, needs map[chunk.ID]int32, users []*Head, problem func(string, ...any), res *CheckResult) error {
	var total int64
	for _, p := range packs {
		total += p.size
	}
	opt.Progress.Phase("read-data", total)
	who := func(id chunk.ID) string {
		if u, ok := needs[id]; ok {
			return fmt.Sprintf("snapshot %s of %s needs it", ShortID(users[u].ID), users[u].Machine)
		}
		return "no snapshot needs it, prune removes it"
	}
	names := make(chan chunk.ID)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(names)
		for name := range packs {
			select {
			case names <- name:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var mu sync.Mutex
	// A pack is read whole: at most 4 at once, so that memory stays
	// bounded (4 × (pack + largest chunk)).
	for range min(opt.Workers, 4) {
		g.Go(func() error {
			var buf []byte
			for name := range names {
				p := packs[name]
				data, err := r.s.ReadFile(gctx, packName(name))
				if gctx.Err() != nil {
					return gctx.Err()
				}
				if err != nil {
					problem("pack %s cannot be read: %v", name.Short(), err)
					continue
				}
				blobs, err := pack.Parse(data, name)
				if err != nil {
					var needed int
					for _, b := range p.blobs {
						if _, ok := needs[b.ID]; ok {
							needed++
						}
					}
					problem("pack %s is damaged: %v; %d chunks that snapshots need are in it", name, err, needed)
					// Name the damaged chunks, if its trailer can still
					// be read.
					if blobs, err = pack.Trailer(data); err != nil {
						continue
					}
				}
				inPack := make(map[pack.Blob]bool, len(blobs))
				var read int
				for _, b := range blobs {
					inPack[b] = true
					if b.Type == pack.Data {
						read++
					}
					if buf, err = chunk.Decode(buf, data[b.Offset:b.End()], b.ID, r.cfg.MaxChunkSize); err != nil {
						problem("pack %s: %v; %s", name.Short(), err, who(b.ID))
					}
				}
				for _, b := range p.blobs {
					if !inPack[b] {
						problem("an index lists chunk %s in pack %s at %d, but the pack does not hold it there; %s", b.ID, name.Short(), b.Offset, who(b.ID))
					}
				}
				opt.Progress.Add(progress.Done, p.size)
				opt.Progress.Add(progress.Fetched, p.size)
				mu.Lock()
				res.Read += read
				mu.Unlock()
			}
			return nil
		})
	}
	return g.Wait()
}
