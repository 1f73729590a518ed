// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package capture

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pierrec/lz4/v4"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/internal/pipeline"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// span is one large read: consecutive chunks of an area, read together into
// one buffer with every byte outside the area's Used left zero.
type span struct {
	disk  int
	area  *repo.Area
	refs  []repo.ChunkRef // a window of area.Chunks, filled in by the workers
	start int64           // offset of the span in the area
	buf   []byte
}

// upload is encoded chunks on their way to the repository: in format 2,
// up to a megabyte of a span's new chunks, stored next to each other in a
// pack so that a restore reads them in one request; in format 1, one
// chunk. encs are slices of buf.
type upload struct {
	ids  []chunk.ID
	encs [][]byte
	buf  []byte
}

// batchBytes is how much of a span's plaintext one upload carries in
// format 2: restore reads runs of up to repo.MaxRunBytes, that much
// plaintext and its headers.
const batchBytes = repo.RunPlaintext

// chunkSet is what the repository holds (its index) and what this run
// stores. Safe for concurrent use.
type chunkSet struct {
	idx *repo.Index
	mu  sync.Mutex
	run repo.BlobSet
}

// claim reports whether id is new, and if so marks it as being stored.
func (s *chunkSet) claim(id chunk.ID) bool {
	if _, ok := s.idx.Lookup(id); ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run.Add(id)
}

// tally counts what a capture does, once: each count goes to the Reporter
// as it happens, and the image's stats are read from the totals. Its
// methods may be called concurrently.
type tally struct {
	rep                       progress.Reporter
	read, newBytes, newChunks atomic.Int64
}

// readSpan counts n bytes read from a disk.
func (t *tally) readSpan(n int64) {
	t.read.Add(n)
	t.rep.Add(progress.Read, n)
}

// hashed counts a chunk of n used bytes hashed.
func (t *tally) hashed(n int64) {
	t.rep.Add(progress.Done, n)
	t.rep.Add(progress.Items, 1)
}

// stored counts a new chunk of n bytes (as stored) saved.
func (t *tally) stored(n int64) {
	t.newBytes.Add(n)
	t.newChunks.Add(1)
	t.rep.Add(progress.Stored, n)
}

// chunkStore reads, hashes, compresses and stores the chunks of an image,
// in three stages joined by channels:
//
//   - read (one reader): areas in disk order, in spans of whole chunks of
//     up to ReadSize, so that a spinning disk reads straight through;
//   - encode (Workers): hash every chunk, compress the ones the repository
//     does not hold;
//   - store (Uploads): network writes only, several in flight.
//
// Memory is bounded: Workers+1 span buffers and Workers+Uploads encode
// buffers (one chunk each in format 1, up to batchBytes of chunks in
// format 2), passed back and forth through free lists.
type chunkStore struct {
	r         *repo.Repository
	saver     *repo.Saver
	cs        int
	spanSize  int
	known     *chunkSet
	tally     *tally
	freeSpans chan []byte
	freeEnc   chan []byte
	batch     int // chunks per upload
}

// storeChunks reads, hashes, compresses and stores the chunks img lists,
// filling in their IDs. It returns the image's byte counts.
func storeChunks(ctx context.Context, r *repo.Repository, img *repo.Image, disks []Source, opt Options) (repo.ImageStats, error) {
	var st repo.ImageStats
	cs := img.ChunkSize
	opt.Progress.Phase("index", 0)
	idx, err := r.LoadIndexWith(ctx, repo.IndexOptions{Max: opt.IndexMax, First: r.ParentImages(opt.Machine)})
	if err != nil {
		return st, fmt.Errorf("learning which chunks %s holds: %w", r.Location(), err)
	}
	if n := idx.Left(); n > 0 {
		opt.Progress.Note(progress.Info, fmt.Sprintf("the repository holds about %d chunks more than a capture keeps in memory (%d): the chunks of this machine's previous image are known, and a chunk that only older images or other machines' hold is stored again (more space on the NAS, nothing lost)", n, idx.Len()))
	}
	known := &chunkSet{idx: idx}
	opt.Progress.Phase("chunks", img.UsedBytes())

	c := &chunkStore{
		r: r, saver: r.NewSaver(idx), cs: cs, spanSize: max(opt.ReadSize/cs, 1) * cs, known: known,
		tally:     &tally{rep: opt.Progress},
		freeSpans: make(chan []byte, opt.Workers+1),
		freeEnc:   make(chan []byte, opt.Workers+opt.Uploads),
		batch:     1,
	}
	if r.Packed() {
		c.batch = max(1, batchBytes/cs)
	}
	for range opt.Workers + 1 {
		c.freeSpans <- make([]byte, c.spanSize)
	}
	for range opt.Workers + opt.Uploads {
		c.freeEnc <- make([]byte, 0, c.batch*chunk.MaxEncodedLen(cs))
	}
	g, gctx := errgroup.WithContext(ctx)
	spans := make(chan *span, opt.Workers)
	uploads := make(chan upload, opt.Uploads)
	pipeline.Stage(g, 1, spans, func() error { return c.read(gctx, img, disks, spans) })
	pipeline.Stage(g, opt.Workers, uploads, func() error { return c.encode(gctx, spans, uploads) })
	pipeline.Stage[upload](g, opt.Uploads, nil, func() error { return c.store(gctx, uploads) })
	err = g.Wait()
	if err == nil {
		err = c.saver.Flush(ctx)
	}
	if err == nil {
		err = r.Locate(img, idx)
	}
	st.ReadBytes = c.tally.read.Load()
	st.NewBytes = c.tally.newBytes.Load()
	st.NewChunks = c.tally.newChunks.Load()
	if err != nil {
		return st, err
	}

	// What the image occupies in the repository, counting each chunk once.
	var seen repo.BlobSet
	for i := range img.Disks {
		for _, a := range img.Disks[i].Areas() {
			st.StoredBytes += storedSize(a.Chunks, idx, &seen)
		}
	}
	return st, nil
}

// read sends the chunks of every disk's areas, in disk order, as spans of
// whole chunks read into buffers from the free list.
func (c *chunkStore) read(ctx context.Context, img *repo.Image, disks []Source, out chan<- *span) error {
	for di := range img.Disks {
		for _, a := range img.Disks[di].Areas() {
			for k := 0; k < len(a.Chunks); {
				buf, err := pipeline.Recv(ctx, c.freeSpans)
				if err != nil {
					return err
				}
				sp := &span{disk: di, area: a, start: a.Chunks[k].I * int64(c.cs), buf: buf}
				end := k
				for end < len(a.Chunks) && a.Range(a.Chunks[end].I, c.cs).End()-sp.start <= int64(c.spanSize) {
					end++
				}
				sp.refs = a.Chunks[k:end]
				k = end
				n, err := sp.read(disks[di], c.cs)
				if err != nil {
					return err
				}
				c.tally.readSpan(n)
				if err := pipeline.Send(ctx, out, sp); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// encode hashes every chunk of each span, filling in its ref, and
// compresses the chunks that are neither zero nor known for the store, in
// uploads of up to c.batch chunks.
func (c *chunkStore) encode(ctx context.Context, in <-chan *span, out chan<- upload) error {
	var lz lz4.Compressor
	var u upload
	send := func() error {
		if len(u.ids) == 0 {
			return nil
		}
		err := pipeline.Send(ctx, out, u)
		u = upload{}
		return err
	}
	for sp := range in {
		for i := range sp.refs {
			ref := &sp.refs[i]
			rng := sp.area.Range(ref.I, c.cs)
			p := sp.buf[rng.Off-sp.start : rng.End()-sp.start]
			ref.ID = chunk.Hash(p)
			ref.Zero = chunk.IsZero(p)
			c.tally.hashed(repo.Size(sp.area.Masked(rng)))
			if ref.Zero || !c.known.claim(ref.ID) {
				continue
			}
			if u.buf == nil {
				buf, err := pipeline.Recv(ctx, c.freeEnc)
				if err != nil {
					return err
				}
				u.buf = buf[:0]
			}
			start := len(u.buf)
			u.buf = chunk.Encode(&lz, u.buf, p)
			u.ids = append(u.ids, ref.ID)
			u.encs = append(u.encs, u.buf[start:len(u.buf):len(u.buf)])
			if len(u.ids) == c.batch {
				if err := send(); err != nil {
					return err
				}
			}
		}
		// An upload never spans two spans: they are encoded side by side.
		if err := send(); err != nil {
			return err
		}
		c.freeSpans <- sp.buf
	}
	return nil
}

// store saves each upload's chunks in the repository, next to each other.
func (c *chunkStore) store(ctx context.Context, in <-chan upload) error {
	for u := range in {
		if err := c.saver.SaveBatch(ctx, pack.Data, u.ids, u.encs); err != nil {
			return err
		}
		for k := range u.ids {
			c.tally.stored(int64(len(u.encs[k])))
		}
		c.freeEnc <- u.buf
	}
	return nil
}

// storedSize returns the bytes refs occupy in the repository, counting
// the chunks not in seen and adding them to it.
func storedSize(refs []repo.ChunkRef, idx *repo.Index, seen *repo.BlobSet) int64 {
	var n int64
	for _, c := range refs {
		if c.Zero || !seen.Add(c.ID) {
			continue
		}
		if l, ok := idx.Lookup(c.ID); ok {
			n += int64(l.Len)
		}
	}
	return n
}

// read fills the span's buffer from src: the used bytes of its chunks
// that are not zeroed, zeros elsewhere. It returns the bytes read.
func (sp *span) read(src Source, cs int) (int64, error) {
	last := sp.refs[len(sp.refs)-1]
	end := sp.area.Range(last.I, cs).End()
	n, err := sp.area.ReadData(src, repo.Extent{Off: sp.start, Len: end - sp.start}, sp.buf[:end-sp.start])
	if err != nil {
		return n, fmt.Errorf("disk %d: %w", sp.disk+1, err)
	}
	return n, nil
}
