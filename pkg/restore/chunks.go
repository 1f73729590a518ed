// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/internal/pipeline"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// job is one chunk of an area on its way to the target, or to be checked.
type job struct {
	area *repo.Area
	k    int // the chunk's place in area.Chunks
	ref  repo.ChunkRef
	rng  repo.Extent   // the chunk's range in the area
	used []repo.Extent // its used parts, relative to rng.Off
	n    int64         // used bytes
	enc  []byte        // as fetched
	// pend is the span j belongs to while a read-back beside the restore
	// waits for its chunks (nil without one).
	pend *pending
}

// diskOff returns where the chunk starts on the disk.
func (j *job) diskOff() int64 { return j.area.Offset + j.rng.Off }

// span is chunks of one area, in order, compared or verified together:
// chunks that lie next to each other on the disk are read from the target
// in one request, and a span's missing chunks are fetched in runs.
type span []*job

// size returns the bytes of the span's chunks' ranges.
func (sp span) size() int64 {
	var n int64
	for _, j := range sp {
		n += j.rng.Len
	}
	return n
}

// spanBytes bounds a span: small chunks are compared and verified a
// megabyte at a time, not a pread each, and a span's chunks that are
// stored side by side (as a capture stores them) are fetched in one
// request.
const spanBytes = 1 << 20

// sendSpans sends a job for every chunk of areas to out, in order, in
// spans of chunks whose ranges add up to at most spanBytes (a larger chunk
// is a span of its own), and closes out. It is the producer of a restore
// and of a verification.
func sendSpans(ctx context.Context, areas repo.Areas, cs int, out chan<- span, at func(a *repo.Area)) error {
	return sendSpansOf(ctx, areas, cs, out, at, nil)
}

// sendSpansOf is sendSpans for the chunks keep accepts (all when nil), by
// their area and place in it.
func sendSpansOf(ctx context.Context, areas repo.Areas, cs int, out chan<- span, at func(a *repo.Area), keep func(a *repo.Area, k int) bool) error {
	defer close(out)
	for _, a := range areas {
		at(a)
		var sp span
		var n int64
		for k, ref := range a.Chunks {
			if keep != nil && !keep(a, k) {
				continue
			}
			j := &job{area: a, k: k, ref: ref, rng: a.Range(ref.I, cs)}
			j.used = a.Masked(j.rng)
			j.n = repo.Size(j.used)
			if len(sp) > 0 && n+j.rng.Len > spanBytes {
				if err := pipeline.Send(ctx, out, sp); err != nil {
					return err
				}
				sp, n = nil, 0
			}
			sp = append(sp, j)
			n += j.rng.Len
		}
		if len(sp) > 0 {
			if err := pipeline.Send(ctx, out, sp); err != nil {
				return err
			}
		}
	}
	return nil
}

// partAt returns a function that reports the job at area a of disk di: its
// partition's number, or 0 for a boot area.
func partAt(rep progress.Reporter, di int, d *repo.Disk) func(a *repo.Area) {
	return func(a *repo.Area) {
		part := 0
		for k := range d.Partitions {
			if &d.Partitions[k].Area == a {
				part = d.Partitions[k].Index
			}
		}
		rep.At(di+1, part)
	}
}

// readSpan reads the used bytes of span sp's chunks from t into p (at
// least sp.size() bytes), zeros elsewhere, the chunks' ranges one after
// the other, and calls fn with each job and its range as read. Chunks
// next to each other on the disk are read in one request.
func readSpan(t io.ReaderAt, sp span, p []byte, fn func(j *job, q []byte) error) error {
	a := sp[0].area
	pos := int64(0)
	for k := 0; k < len(sp); {
		first := k
		rng := sp[k].rng
		for k++; k < len(sp) && sp[k].rng.Off == rng.End(); k++ {
			rng.Len += sp[k].rng.Len
		}
		q := p[pos : pos+rng.Len]
		if _, err := a.ReadMasked(t, rng, q); err != nil {
			return err
		}
		for _, j := range sp[first:k] {
			if err := fn(j, q[j.rng.Off-rng.Off:j.rng.End()-rng.Off]); err != nil {
				return err
			}
		}
		pos += rng.Len
	}
	return nil
}

// tally counts what a restore does, once: each count goes to the Reporter
// as it happens, and the Summary is read from the totals. Its methods may
// be called concurrently.
type tally struct {
	rep                               progress.Reporter
	written, zeroed, skipped, fetched atomic.Int64
	chunks, fetches, skips            atomic.Int64
	// touched is set before the first write to a target.
	touched atomic.Bool
}

// touch records that a write to a target is about to start.
func (t *tally) touch() { t.touched.Store(true) }

// read counts n bytes read from a target to compare them.
func (t *tally) read(n int64) { t.rep.Add(progress.Read, n) }

// chunk counts one of the image's chunks, on its way.
func (t *tally) chunk() {
	t.chunks.Add(1)
	t.rep.Add(progress.Items, 1)
}

// chunkSkipped counts a chunk of n used bytes that the target held.
func (t *tally) chunkSkipped(n int64) {
	t.skipped.Add(n)
	t.skips.Add(1)
	t.rep.Add(progress.Skipped, n)
	t.rep.Add(progress.Done, n)
}

// chunkFetched counts a chunk of n bytes (as stored) fetched.
func (t *tally) chunkFetched(n int64) {
	t.fetched.Add(n)
	t.fetches.Add(1)
	t.rep.Add(progress.Fetched, n)
}

// chunkWritten counts a chunk of n used bytes written; zero says it was
// a zero chunk, written without a fetch.
func (t *tally) chunkWritten(n int64, zero bool) {
	t.wrote(n, zero)
	t.rep.Add(progress.Done, n)
}

// wrote counts n bytes written, zeros if zero.
func (t *tally) wrote(n int64, zero bool) {
	t.written.Add(n)
	if zero {
		t.zeroed.Add(n)
	}
	t.rep.Add(progress.Written, n)
}

// held counts n bytes that need no write because the target held them.
func (t *tally) held(n int64) {
	t.skipped.Add(n)
	t.rep.Add(progress.Skipped, n)
}

// addTo adds the counts to s.
func (t *tally) addTo(s *Summary) {
	s.Written += t.written.Load()
	s.Zeroed += t.zeroed.Load()
	s.Skipped += t.skipped.Load()
	s.Fetched += t.fetched.Load()
	s.Chunks += t.chunks.Load()
	s.Fetches += t.fetches.Load()
	s.Skips += t.skips.Load()
}

// chunkRestore writes the chunks of a disk that its target does not hold
// yet, in three stages joined by channels, as restic's file restorer and
// desync's assembler do:
//
//   - compare (Workers): read the chunk's range from the target, masked,
//     and hash it; a chunk the target holds is skipped, a zero chunk is
//     written at once, the rest go on;
//   - fetch (Fetches): network reads only, so that a slow repository never
//     holds a CPU and a fast one has several requests in flight;
//   - write (Workers): decode and check the chunk, write its used parts.
//
// Memory is bounded whatever the repository: 2×Workers plaintext buffers
// shared by compare and write, and at most Fetches+2×Workers fetched chunks
// (in the fetchers' hands, queued, in the writers' hands). All I/O is
// positional, so the workers share no file offset.
type chunkRestore struct {
	r         *repo.Repository
	img       *repo.Image
	t         Target
	cs, di    int
	overwrite bool
	runBytes  int64
	tally     *tally
	free      chan []byte // plaintext buffers of cs bytes, for write
	zeros     zeroIDs
	recent    *blobCache
	// written marks the chunks written, for the read-back.
	written marks
	// overlap is set when partitions overlap: then no write may carry
	// another partition's bytes read earlier (writeUsed's scratch), or it
	// could undo that partition's newer write.
	overlap bool
	// back, when set, reads back each span once its chunks are settled,
	// while the restore goes on; done carries the spans to it.
	back *readBack
	done chan span
}

// restoreChunks writes the chunks of d's partitions that t does not hold,
// and with back reads them back as it goes.
func restoreChunks(ctx context.Context, r *repo.Repository, img *repo.Image, di int, d *repo.Disk, t Target, opt Options, tl *tally, written marks, back *readBack) error {
	cs := img.ChunkSize
	areas := d.PartitionAreas()
	workers := opt.Workers
	// Bound memory whatever the chunk size: fetched chunks in flight and
	// the plaintext buffers stay under ~200 MiB even with 16 MiB chunks,
	// ~20 MiB with the default 1 MiB.
	fetches := max(2, min(opt.Fetches, (64<<20)/cs))
	c := &chunkRestore{r: r, img: img, runBytes: opt.RunBytes, t: t, cs: cs, di: di, overwrite: opt.Overwrite, tally: tl,
		free: make(chan []byte, 2*workers), overlap: overlapping(d), recent: newBlobCache(recentBytes), written: written, back: back}
	for range 2 * workers {
		c.free <- make([]byte, cs)
	}

	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan span, workers)
	toFetch := make(chan []*job, fetches)
	toWrite := make(chan *job, workers)
	// compare and write both settle chunks, and so both send spans to the
	// read-back: its channel closes once both stages have returned.
	var settlers sync.WaitGroup
	settlers.Add(2 * workers)
	if back != nil {
		c.done = make(chan span, workers)
	}
	g.Go(func() error { return sendSpans(gctx, areas, cs, jobs, partAt(opt.Progress, di, d)) })
	pipeline.Stage(g, workers, toFetch, func() error {
		defer settlers.Done()
		return c.compare(gctx, jobs, toFetch)
	})
	pipeline.Stage(g, fetches, toWrite, func() error { return c.fetch(gctx, toFetch, toWrite) })
	pipeline.Stage[*job](g, workers, nil, func() error {
		defer settlers.Done()
		return c.write(gctx, toWrite)
	})
	if back != nil {
		go func() {
			settlers.Wait()
			close(c.done)
		}()
		pipeline.Stage[span](g, workers, nil, func() error { return c.readBack(gctx, c.done) })
	}
	return g.Wait()
}

// pending is a span whose chunks are on their way to the target: the
// read-back takes it once left reaches zero.
type pending struct {
	sp   span
	left atomic.Int64
}

// settled records that job j's chunk is now on the target (written, found
// there, or zeroed) and, if it was its span's last, passes the span to the
// read-back.
func (c *chunkRestore) settled(ctx context.Context, j *job) error {
	if j.pend == nil || j.pend.left.Add(-1) > 0 {
		return nil
	}
	return pipeline.Send(ctx, c.done, j.pend.sp)
}

// readBack is a read-back beside the restore: as each span of a disk is
// settled, the chunks keep accepts are read back from the device past the
// page cache (Target.OpenDirect: a read flushes its range first) and
// checked, while later spans are still fetched and written. Each byte is
// read after its last write: spans share no page (see besideOK), and
// nothing else writes to a partition's chunks.
type readBack struct {
	keep func(a *repo.Area, k int) bool
	chk  *checker // reading past the page cache
}

// readBack reads back the spans that come in.
func (c *chunkRestore) readBack(ctx context.Context, in <-chan span) error {
	buf := make([]byte, max(c.cs, spanBytes))
	var sub span
	for sp := range in {
		if err := ctx.Err(); err != nil {
			return err
		}
		sub = sub[:0]
		for _, j := range sp {
			if c.back.keep(j.area, j.k) {
				sub = append(sub, j)
			}
		}
		if len(sub) > 0 {
			if err := c.back.chk.check(sub, buf, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// compare passes on the jobs whose chunk the target does not hold and
// that are not zero chunks, which it writes itself. It reads each span of
// the target in one request into its own buffer, and passes on the span's
// jobs to fetch in runs of neighbours in a pack (runs), which the fetchers
// read in one request each. With overwrite it reads nothing: every chunk
// is fetched and written.
func (c *chunkRestore) compare(ctx context.Context, in <-chan span, out chan<- []*job) error {
	buf := make([]byte, max(c.cs, spanBytes))
	var zeros []byte // for zero chunks when nothing was read
	for sp := range in {
		if c.back != nil {
			p := &pending{sp: sp}
			p.left.Store(int64(len(sp)))
			for _, j := range sp {
				j.pend = p
			}
		}
		var need, have []*job // have: found among the blobs fetched recently
		var werr error        // a write's error, which is not the comparison's
		settle := func(j *job, q []byte, read bool) error {
			c.tally.chunk()
			if read {
				c.tally.read(j.n)
			}
			done, err := c.settle(j, q, read)
			if err == nil && done {
				// Not werr: the read-back's end is not the comparison's.
				if err := c.settled(ctx, j); err != nil {
					return err
				}
			}
			if err == nil && !done {
				switch enc, fetch := c.recent.want(j); {
				case enc != nil:
					j.enc = enc
					have = append(have, j)
				case fetch:
					need = append(need, j)
				}
			}
			werr = err
			return err
		}
		if c.overwrite {
			for _, j := range sp {
				var q []byte
				if j.ref.Zero {
					if zeros == nil {
						zeros = make([]byte, c.cs)
					}
					q = zeros[:j.rng.Len]
				}
				if err := settle(j, q, false); err != nil {
					return err
				}
			}
		} else {
			err := readSpan(c.t, sp, buf, func(j *job, q []byte) error { return settle(j, q, true) })
			if err != nil && werr == nil {
				err = fmt.Errorf("disk %d: comparing it with the image before writing: %w", c.di+1, err)
			}
			if err != nil {
				return err
			}
		}
		if len(have) > 0 {
			if err := pipeline.Send(ctx, out, have); err != nil {
				return err
			}
		}
		for _, run := range runs(need, c.runBytes) {
			if err := pipeline.Send(ctx, out, run); err != nil {
				return err
			}
		}
	}
	return nil
}

// settle settles job j if it can, with q its range as read from the target
// (read) or a buffer of its size: it returns true when the target holds
// the chunk or j was a zero chunk, now written.
func (c *chunkRestore) settle(j *job, q []byte, read bool) (bool, error) {
	if read && matches(q, j.ref, &c.zeros) {
		c.tally.chunkSkipped(j.n)
		return true, nil
	}
	if !j.ref.Zero {
		return false, nil
	}
	clear(q)
	c.tally.touch()
	c.written.mark(j)
	if err := writeUsed(c.t, j, q, nil); err != nil {
		return false, fmt.Errorf("disk %d: %w", c.di+1, err)
	}
	c.tally.chunkWritten(j.n, true)
	return true, nil
}

// fetch reads each run's chunks from the repository, as stored, and
// passes the jobs on. A run whose first job has its blob already came
// from the cache of recent blobs: nothing is read.
func (c *chunkRestore) fetch(ctx context.Context, in <-chan []*job, out chan<- *job) error {
	for run := range in {
		if run[0].enc == nil {
			if err := c.fetchRun(ctx, run); err != nil {
				return err
			}
			// Not appended to run: runs share the array of their batch.
			var waited []*job
			for _, j := range run {
				waited = append(waited, c.recent.fetched(j.ref.ID, j.enc)...)
			}
			run = append(waited, run...)
		}
		for _, j := range run {
			if err := pipeline.Send(ctx, out, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// runs sorts batch by place and cuts it into runs of adjacent chunks of
// at most max bytes (a chunk larger than that is a run of its own). An
// empty batch has no runs.
func runs(batch []*job, max int64) [][]*job {
	if len(batch) == 0 {
		return nil
	}
	sort.Slice(batch, func(a, b int) bool {
		x, y := batch[a].ref, batch[b].ref
		return x.Pack < y.Pack || x.Pack == y.Pack && x.Off < y.Off
	})
	var out [][]*job
	start := 0
	var n int64
	for k := range batch {
		if k > start && (!repo.Adjacent(batch[k-1].ref, batch[k].ref) || n+int64(batch[k].ref.Len) > max) {
			out = append(out, batch[start:k])
			start, n = k, 0
		}
		n += int64(batch[k].ref.Len)
	}
	return append(out, batch[start:])
}

// fetchRun reads the chunks of run, adjacent in one pack (or a single
// chunk), into their jobs.
func (c *chunkRestore) fetchRun(ctx context.Context, run []*job) error {
	if len(run) == 1 {
		j := run[0]
		enc, err := c.r.LoadEncoded(ctx, c.img, j.ref)
		if err != nil {
			return fmt.Errorf("fetching the chunk for disk %d at offset %d: %w", c.di+1, j.diskOff(), err)
		}
		j.enc = enc
		c.tally.chunkFetched(int64(len(enc)))
		return nil
	}
	refs := make([]repo.ChunkRef, len(run))
	for k, j := range run {
		refs[k] = j.ref
	}
	encs, err := c.r.LoadRun(ctx, c.img, refs)
	if err != nil {
		return fmt.Errorf("fetching %d chunks for disk %d from offset %d: %w", len(run), c.di+1, run[0].diskOff(), err)
	}
	for k, j := range run {
		j.enc = encs[k]
		c.tally.chunkFetched(int64(len(encs[k])))
	}
	return nil
}

// recentBytes bounds the cache of recently fetched small blobs.
const recentBytes = 8 << 20

// recentMax is the largest blob the cache keeps: an image's repeated
// chunks (filesystem metadata, file tails) compress to little, and a
// large one costs a request that is at the link's speed anyway.
const recentMax = 16 << 10

// blobCache keeps copies of recently fetched small blobs, as stored, so
// that a chunk that occurs in many places of an image is fetched once
// rather than once per place; and while a blob is being fetched, the other
// jobs that want it wait here (without blocking anyone) and go with it.
// It forgets the oldest blobs first. Its methods may be called
// concurrently.
type blobCache struct {
	mu      sync.Mutex
	blobs   map[chunk.ID][]byte
	order   []chunk.ID // oldest first
	size    int
	max     int
	pending map[chunk.ID][]*job // being fetched, and who else waits for it
}

func newBlobCache(max int) *blobCache {
	return &blobCache{blobs: make(map[chunk.ID][]byte), pending: make(map[chunk.ID][]*job), max: max}
}

// want returns job j's blob if the cache holds it (the caller must not
// modify it); or, if the blob is being fetched, adds j to its waiters and
// returns nil, false; or else marks it as being fetched and returns nil,
// true: the caller fetches it and then calls fetched.
func (b *blobCache) want(j *job) (enc []byte, fetch bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if enc := b.blobs[j.ref.ID]; enc != nil {
		return enc, false
	}
	if w, ok := b.pending[j.ref.ID]; ok {
		b.pending[j.ref.ID] = append(w, j)
		return nil, false
	}
	b.pending[j.ref.ID] = nil
	return nil, true
}

// fetched records blob enc of chunk id as fetched, keeps a copy if it is
// small, and returns the jobs that waited for it, their blob set.
func (b *blobCache) fetched(id chunk.ID, enc []byte) []*job {
	b.mu.Lock()
	defer b.mu.Unlock()
	waiters := b.pending[id]
	delete(b.pending, id)
	for _, w := range waiters {
		w.enc = enc
	}
	if _, ok := b.blobs[id]; ok || len(enc) > recentMax {
		return waiters
	}
	for b.size+len(enc) > b.max && len(b.order) > 0 {
		old := b.order[0]
		b.order = b.order[1:]
		b.size -= len(b.blobs[old])
		delete(b.blobs, old)
	}
	b.blobs[id] = bytes.Clone(enc)
	b.order = append(b.order, id)
	b.size += len(enc)
	return waiters
}

// overlapping reports whether any two of d's partitions share bytes.
func overlapping(d *repo.Disk) bool {
	var parts []repo.Extent
	var sum int64
	for _, p := range d.Partitions {
		parts = append(parts, repo.Extent{Off: p.Offset, Len: p.Length})
		sum += max(p.Length, 0)
	}
	return repo.Size(union(parts)) < sum
}

// write decodes and checks each job's chunk and writes its used parts.
func (c *chunkRestore) write(ctx context.Context, in <-chan *job) error {
	var scratch []byte
	if !c.overlap {
		scratch = make([]byte, c.cs)
	}
	for j := range in {
		buf, err := pipeline.Recv(ctx, c.free)
		if err != nil {
			return err
		}
		err = c.writeOne(j, buf, scratch)
		c.free <- buf
		if err != nil {
			return err
		}
		if err := c.settled(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// writeOne decodes job j's chunk into buf and writes it, merging close
// parts through scratch.
func (c *chunkRestore) writeOne(j *job, buf, scratch []byte) error {
	p, err := c.r.DecodeChunk(j.enc, j.ref.ID, buf)
	j.enc = nil
	if err == nil && int64(len(p)) != j.rng.Len {
		err = fmt.Errorf("chunk %s holds %d bytes, the image places %d bytes there: %w", j.ref.ID, len(p), j.rng.Len, chunk.ErrCorrupt)
	}
	if err != nil {
		return fmt.Errorf("disk %d, offset %d: %w; the repository is damaged: run 'rewind check --read-data' on it to find every damaged chunk, and restore an older image", c.di+1, j.diskOff(), err)
	}
	c.tally.touch()
	c.written.mark(j)
	if err := writeUsed(c.t, j, p, scratch); err != nil {
		return fmt.Errorf("disk %d: %w", c.di+1, err)
	}
	c.tally.chunkWritten(j.n, false)
	return nil
}

// writeUsed writes the used parts of chunk j, whose plaintext is p. Parts
// less than repo.ReadGap apart are written as one: the gaps are read from the
// target into scratch first and written back as they were, so that a
// fragmented chunk costs one read and one write rather than a write per
// part. With a nil scratch every part is written on its own.
func writeUsed(t readerWriterAt, j *job, p, scratch []byte) error {
	parts := j.used
	if scratch == nil {
		for _, m := range parts {
			if err := writeRun(t, p[m.Off:m.End()], j.diskOff()+m.Off); err != nil {
				return err
			}
		}
		return nil
	}
	for _, run := range repo.Coalesce(parts, repo.ReadGap) {
		n := 1 // the parts the run joins
		for n < len(parts) && parts[n].Off < run.End() {
			n++
		}
		off := j.diskOff() + run.Off
		data := p[run.Off:run.End()]
		if n > 1 {
			data = scratch[:run.Len]
			if err := readFull(t, data, off); err != nil {
				return fmt.Errorf("reading %d bytes at offset %d to merge writes: %w", len(data), off, err)
			}
			for _, m := range parts[:n] {
				copy(data[m.Off-run.Off:], p[m.Off:m.End()])
			}
		}
		if err := writeRun(t, data, off); err != nil {
			return err
		}
		parts = parts[n:]
	}
	return nil
}

// writeRun writes data at off.
func writeRun(t io.WriterAt, data []byte, off int64) error {
	if _, err := t.WriteAt(data, off); err != nil {
		return fmt.Errorf("writing %d bytes at offset %d: %w", len(data), off, err)
	}
	return nil
}

// readFull fills p from r at off; a short read is io.ErrUnexpectedEOF.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	k, err := r.ReadAt(p, off)
	if k == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// readerWriterAt is what writeUsed needs of a target.
type readerWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// matches reports whether p, a chunk's range read from the target and
// masked, is chunk ref. A blank range (the usual case on a new disk) is
// decided without hashing it.
func matches(p []byte, ref repo.ChunkRef, zeros *zeroIDs) bool {
	if chunk.IsZero(p) {
		return ref.ID == zeros.id(len(p))
	}
	return chunk.Hash(p) == ref.ID
}

// zeroIDs caches the IDs of runs of zeros by length. Safe for concurrent use.
type zeroIDs struct {
	mu  sync.Mutex
	ids map[int]chunk.ID
}

func (z *zeroIDs) id(n int) chunk.ID {
	z.mu.Lock()
	defer z.mu.Unlock()
	id, ok := z.ids[n]
	if !ok {
		if z.ids == nil {
			z.ids = make(map[int]chunk.ID)
		}
		id = chunk.Hash(make([]byte, n))
		z.ids[n] = id
	}
	return id
}

// marks records which chunks of each area a restore wrote, a bit each, so
// that the read-back reads those alone: the compare pass read and checked
// every chunk it did not write. Safe for concurrent use; a nil marks
// records nothing.
type marks map[*repo.Area][]uint64

func newMarks(areas repo.Areas) marks {
	m := make(marks, len(areas))
	for _, a := range areas {
		m[a] = make([]uint64, (len(a.Chunks)+63)/64)
	}
	return m
}

// mark records j's chunk as written, before it is.
func (m marks) mark(j *job) {
	if w, ok := m[j.area]; ok {
		atomic.OrUint64(&w[j.k/64], 1<<(j.k%64))
	}
}

// has reports whether chunk k of area a was written.
func (m marks) has(a *repo.Area, k int) bool {
	w, ok := m[a]
	return ok && atomic.LoadUint64(&w[k/64])&(1<<(k%64)) != 0
}
