// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/internal/pipeline"
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
//
// It holds the blobs the snapshots need as prune does, 17 bytes a blob,
// and reads the index files once per step rather than hold what they list.
// Which snapshot needs a missing or damaged blob is found by a second walk
// of the snapshots, only when there is one.
func (r *Repository) Check(ctx context.Context, opt CheckOptions) (*CheckResult, error) {
	if opt.Progress == nil {
		opt.Progress = progress.Discard
	}
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	c := &checkRun{r: r, opt: opt, res: &CheckResult{}}

	opt.Progress.Phase("snapshots", 0)
	needed := &BlobSet{}
	var files []store.Info
	if r.Packed() {
		var err error
		files, err = r.indexFiles(ctx, func(name string, err error) {
			c.warn("%s cannot be used (%v); prune replaces it", name, err)
		})
		if err != nil {
			return nil, err
		}
		needed.Grow(int(min(indexBlobs(files...), 1<<30)))
	}
	err := r.EachSnapshot(ctx, nil, func(h *Head, s *Snapshot, err error) error {
		opt.Progress.Add(progress.Items, 1)
		if err != nil {
			c.problem("snapshot %s%s cannot be used: %v", ShortID(h.ID), h.describe(), err)
			return nil
		}
		c.res.Snapshots++
		c.users = append(c.users, h)
		err = r.Refs(ctx, s, needed.Add)
		if err != nil && ctx.Err() == nil {
			c.problem("snapshot %s%s cannot be used: %v", ShortID(h.ID), h.describe(), err)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	c.need = newLiveSet(needed)

	opt.Progress.Phase("chunks", 0)
	if r.Packed() {
		err = c.packs(ctx, files)
	} else {
		err = c.chunks(ctx)
	}
	if err != nil {
		return nil, err
	}
	missing := 0
	for _, f := range c.need.flags {
		if f&isStored == 0 {
			missing++
		}
	}

	switch {
	case opt.ReadData && r.Packed():
		err = c.packData(ctx, files)
	case opt.ReadData:
		err = c.chunkData(ctx)
	}
	if err != nil {
		return nil, err
	}
	if missing > 0 || len(c.damaged) > 0 {
		if err := c.blame(ctx); err != nil {
			return nil, err
		}
	}

	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	for name, l := range locks {
		if (Locker{}).Stale(l) {
			c.warn("lock %s by %s on %s (pid %d) is stale: its process is gone; prune removes it", name, l.Op, l.Host, l.PID)
		}
	}
	sort.Strings(c.res.Warnings)
	return c.res, nil
}

// maxMissingNamed is how many missing chunks Check names per snapshot.
const maxMissingNamed = 10

// The flags Check keeps of each blob the snapshots need.
const (
	isStored uint8 = 1 << iota // a pack (or chunk file) holds it
	isBlamed                   // the second walk has met it
)

// checkRun is one Check: what it holds while it goes.
type checkRun struct {
	r     *Repository
	opt   CheckOptions
	users []*Head  // the snapshots that could be read, in walk order
	need  *liveSet // the blobs they need
	// stored is each chunk file's stored size (format 1, whose
	// repositories are a file a chunk: tens of thousands).
	stored map[chunk.ID]int64
	// packSizes is each stored pack's size, and trailers the blobs of
	// those in no index (format 2).
	packSizes map[chunk.ID]int64
	trailers  map[chunk.ID][]pack.Blob

	mu      sync.Mutex
	res     *CheckResult
	damaged []damagedBlob // found by the read-data, for blame
}

// damagedBlob is a blob read-data found damaged: what was wrong, to be
// said with the snapshot that needs it.
type damagedBlob struct {
	id  chunk.ID
	msg string
}

func (c *checkRun) problem(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Problems = append(c.res.Problems, fmt.Sprintf(format, args...))
}

func (c *checkRun) warn(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Warnings = append(c.res.Warnings, fmt.Sprintf(format, args...))
}

// damage records blob id as damaged, msg saying how.
func (c *checkRun) damage(id chunk.ID, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.damaged = append(c.damaged, damagedBlob{id, msg})
}

// found marks blob id as stored, if a snapshot needs it, and reports
// whether it was marked before.
func (c *checkRun) found(id chunk.ID) bool {
	f, i := c.need.flag(id)
	if i >= 0 {
		c.need.flags[i] |= isStored
	}
	return f&isStored != 0
}

// describe says whose a snapshot is, as far as its head tells.
func (h *Head) describe() string {
	if !h.Known() {
		return " (of an unknown machine)"
	}
	return fmt.Sprintf(" (%s of %s, %s)", h.Kind, h.Machine, h.Time.Local().Format("2006-01-02 15:04"))
}

// blame walks the snapshots again, in the same order, and says which one
// first needs each missing blob (a few named per snapshot, the rest
// counted, so that the report stays short however much is gone) and each
// damaged one.
func (c *checkRun) blame(ctx context.Context) error {
	order := make(map[chunk.ID]int, len(c.users))
	for u, h := range c.users {
		order[h.ID] = u
	}
	missing := make([][]chunk.ID, len(c.users))
	counts := make([]int, len(c.users))
	who := make(map[chunk.ID]int, len(c.damaged))
	for _, d := range c.damaged {
		who[d.id] = -1
	}
	err := c.r.EachSnapshot(ctx, nil, func(h *Head, s *Snapshot, err error) error {
		u, ok := order[h.ID]
		if err != nil || !ok {
			return nil // said in the first walk
		}
		err = c.r.Refs(ctx, s, func(id chunk.ID) bool {
			f, i := c.need.flag(id)
			if i < 0 || f&isBlamed != 0 {
				return false
			}
			c.need.flags[i] |= isBlamed
			if f&isStored == 0 {
				counts[u]++
				if len(missing[u]) < maxMissingNamed {
					missing[u] = append(missing[u], id)
				}
			}
			if w, ok := who[id]; ok && w < 0 {
				who[id] = u
			}
			return true
		})
		if err != nil && ctx.Err() == nil {
			return nil // said in the first walk
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for u, h := range c.users {
		for _, id := range missing[u] {
			c.problem("chunk %s is missing; snapshot %s of %s (%s) needs it", id, ShortID(h.ID), h.Machine, h.Time.Local().Format("2006-01-02 15:04"))
		}
		if n := counts[u] - len(missing[u]); n > 0 {
			c.problem("%d more chunks are missing that snapshot %s of %s (%s) needs", n, ShortID(h.ID), h.Machine, h.Time.Local().Format("2006-01-02 15:04"))
		}
	}
	for _, d := range c.damaged {
		if u := who[d.id]; u >= 0 {
			c.problem("%s; snapshot %s of %s needs it", d.msg, ShortID(c.users[u].ID), c.users[u].Machine)
		} else {
			c.problem("%s; no snapshot needs it, prune removes it", d.msg)
		}
	}
	return nil
}

// chunks lists the chunk files of a format-1 repository.
func (c *checkRun) chunks(ctx context.Context) error {
	c.stored = make(map[chunk.ID]int64)
	var temps int
	err := c.r.ListChunks(ctx, func(sc StoredChunk) error {
		c.stored[sc.ID] = sc.Size
		c.res.ChunkBytes += sc.Size
		c.found(sc.ID)
		return nil
	}, func(name string, fi store.Info) error {
		switch {
		case isTemp(fi.Name):
			temps++
		case fi.Name != keepFile:
			c.warn("%s is not a chunk; remove it", name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.res.Chunks = len(c.stored)
	if temps > 0 {
		c.warn("%d temporary files left by interrupted writes; prune removes them after a day", temps)
	}
	return nil
}

// chunkData reads every chunk file of a format-1 repository.
func (c *checkRun) chunkData(ctx context.Context) error {
	var total int64
	for _, n := range c.stored {
		total += n
	}
	c.opt.Progress.Phase("read-data", total)
	ids := make(chan chunk.ID)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(ids)
		for id := range c.stored {
			if err := pipeline.Send(gctx, ids, id); err != nil {
				return err
			}
		}
		return nil
	})
	for range c.opt.Workers {
		g.Go(func() error {
			buf := make([]byte, c.r.cfg.MaxChunkSize)
			for id := range ids {
				_, err := c.r.LoadChunk(gctx, id, buf)
				if gctx.Err() != nil {
					return gctx.Err()
				}
				if err != nil {
					c.damage(id, err.Error())
				}
				c.opt.Progress.Add(progress.Done, c.stored[id])
				c.opt.Progress.Add(progress.Fetched, c.stored[id])
				c.mu.Lock()
				c.res.Read++
				c.mu.Unlock()
			}
			return nil
		})
	}
	return g.Wait()
}

// packs learns what the packs of a format-2 repository hold, from the
// index files (each pack as the first that lists it says) and, for a pack
// in none, from its own trailer.
func (c *checkRun) packs(ctx context.Context, files []store.Info) error {
	sizes, temps, err := c.r.packFiles(ctx)
	if err != nil {
		return err
	}
	c.packSizes = sizes
	for _, size := range sizes {
		c.res.Packs++
		c.res.ChunkBytes += size
	}
	// Which packs an index lists: a byte or so a pack.
	listed := make(map[chunk.ID]bool)
	count := func(blobs []pack.Blob) {
		for _, b := range blobs {
			// Chunks counts the disks' data (the images' chunk lists are
			// blobs too): a blob no snapshot needs is counted once per
			// pack that holds it.
			if !c.found(b.ID) && b.Type == pack.Data {
				c.res.Chunks++
			}
		}
	}
	for _, fi := range files {
		err := c.r.readIndexFile(ctx, fi, func(_, pk chunk.ID, blobs []pack.Blob) error {
			if listed[pk] {
				return nil
			}
			listed[pk] = true
			if _, ok := sizes[pk]; !ok {
				c.warn("an index lists pack %s, which is gone; prune tidies the index", pk.Short())
				return nil
			}
			count(blobs)
			return nil
		}, func(name string, err error) {
			c.warn("%s cannot be used (%v); prune replaces it", name, err)
		})
		if err != nil {
			return err
		}
	}
	c.trailers = make(map[chunk.ID][]pack.Blob)
	for name, size := range sizes {
		if listed[name] {
			continue
		}
		blobs, err := c.r.readTrailer(ctx, name, size)
		if err != nil {
			c.problem("%v", err)
			blobs = []pack.Blob{}
		}
		c.trailers[name] = blobs
		count(blobs)
	}
	if n := len(c.trailers); n > 0 {
		c.warn("%d packs are in no index (left by an interrupted capture or prune); prune removes or indexes them", n)
	}
	if len(temps) > 0 {
		c.warn("%d temporary files in the pack folders, left by interrupted writes; prune removes them after a day", len(temps))
	}
	return nil
}

// packData reads every pack whole: its bytes against its name, its
// trailer against what the index files say it holds, and every blob
// against its id. The index files are read once more, a pack's list
// handed to a reader as it comes.
func (c *checkRun) packData(ctx context.Context, files []store.Info) error {
	var total int64
	packs := make(map[chunk.ID]*prunePack, len(c.packSizes))
	for name, size := range c.packSizes {
		total += size
		packs[name] = &prunePack{size: size}
	}
	c.opt.Progress.Phase("read-data", total)
	type listed struct {
		name  chunk.ID
		size  int64
		blobs []pack.Blob
	}
	todo := make(chan listed)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(todo)
		return c.r.packLists(gctx, files, packs, c.trailers, nil, func(name chunk.ID, p *prunePack, blobs []pack.Blob) error {
			return pipeline.Send(gctx, todo, listed{name, p.size, blobs})
		})
	})
	// A pack is read whole: at most 4 at once, so that memory stays
	// bounded (4 × (pack + largest chunk)).
	for range min(c.opt.Workers, 4) {
		g.Go(func() error {
			var buf []byte
			for p := range todo {
				var err error
				if buf, err = c.packOne(gctx, p.name, p.blobs, buf); err != nil {
					return err
				}
				c.opt.Progress.Add(progress.Done, p.size)
				c.opt.Progress.Add(progress.Fetched, p.size)
			}
			return nil
		})
	}
	return g.Wait()
}

// packOne reads pack name and checks it against blobs, what the index
// files list in it; buf is for the blobs' plaintext, returned for reuse.
func (c *checkRun) packOne(ctx context.Context, name chunk.ID, listed []pack.Blob, buf []byte) ([]byte, error) {
	data, err := c.r.s.ReadFile(ctx, packName(name))
	if ctx.Err() != nil {
		return buf, ctx.Err()
	}
	if err != nil {
		c.problem("pack %s cannot be read: %v", name.Short(), err)
		return buf, nil
	}
	blobs, err := pack.Parse(data, name)
	if err != nil {
		var needed int
		for _, b := range listed {
			if _, i := c.need.flag(b.ID); i >= 0 {
				needed++
			}
		}
		c.problem("pack %s is damaged: %v; %d chunks that snapshots need are in it", name, err, needed)
		// Name the damaged chunks, if its trailer can still be read.
		if blobs, err = pack.Trailer(data); err != nil {
			return buf, nil
		}
	}
	inPack := make(map[pack.Blob]bool, len(blobs))
	var read int
	for _, b := range blobs {
		inPack[b] = true
		if b.Type == pack.Data {
			read++
		}
		if buf, err = chunk.Decode(buf, data[b.Offset:b.End()], b.ID, c.r.cfg.MaxChunkSize); err != nil {
			c.damage(b.ID, fmt.Sprintf("pack %s: %v", name.Short(), err))
		}
	}
	for _, b := range listed {
		if !inPack[b] {
			c.damage(b.ID, fmt.Sprintf("an index lists chunk %s in pack %s at %d, but the pack does not hold it there", b.ID, name.Short(), b.Offset))
		}
	}
	c.mu.Lock()
	c.res.Read += read
	c.mu.Unlock()
	return buf, nil
}
