// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// job is one chunk of a partition on its way to the target.
type job struct {
	area *repo.Area
	ref  repo.ChunkRef
	rng  repo.Extent   // the chunk's range in the area
	used []repo.Extent // its used parts, relative to rng.Off
	n    int64         // used bytes
	enc  []byte        // as fetched
}

// diskOff returns where the chunk starts on the disk.
func (j *job) diskOff() int64 { return j.area.Offset + j.rng.Off }

// counts are a restore's byte counts, updated by many goroutines.
type counts struct {
	written, zeroed, skipped, fetched atomic.Int64
	chunks, fetches, skips            atomic.Int64
}

// restoreChunks writes the chunks of d's partitions that t does not hold
// yet: compare (read and hash the target's range), fetch, decode and verify,
// write.
func restoreChunks(ctx context.Context, r *repo.Repository, cs, di int, d *repo.Disk, t Target, opt Options, sum *Summary) error {
	var total int64
	for _, p := range d.Partitions {
		total += p.UsedBytes
	}
	opt.Progress.Phase("chunks", total)
	var c counts
	defer func() {
		sum.Written += c.written.Load()
		sum.Zeroed += c.zeroed.Load()
		sum.Skipped += c.skipped.Load()
		sum.Fetched += c.fetched.Load()
		sum.Chunks += c.chunks.Load()
		sum.Fetches += c.fetches.Load()
		sum.Skips += c.skips.Load()
	}()

	workers := opt.Workers
	// Bound memory whatever the chunk size: fetched chunks in flight (the
	// fetchers' and the writers' queue and hands) and 3 plaintext buffers
	// per worker stay under ~200 MiB even with 16 MiB chunks, ~20 MiB with
	// the default 1 MiB.
	fetches := max(2, min(opt.Fetches, (64<<20)/cs))
	free := make(chan []byte, 2*workers)
	for range 2 * workers {
		free <- make([]byte, cs)
	}
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan *job, workers)
	toFetch := make(chan *job, fetches)
	toWrite := make(chan *job, workers)

	var zeros zeroIDs
	send := func(ch chan<- *job, j *job) error {
		select {
		case ch <- j:
			return nil
		case <-gctx.Done():
			return gctx.Err()
		}
	}
	take := func() ([]byte, error) {
		select {
		case b := <-free:
			return b, nil
		case <-gctx.Done():
			return nil, gctx.Err()
		}
	}

	g.Go(func() error {
		defer close(jobs)
		for pi := range d.Partitions {
			a := &d.Partitions[pi].Area
			for _, ref := range a.Chunks {
				j := &job{area: a, ref: ref, rng: a.Range(ref.I, cs)}
				j.used = a.Masked(j.rng)
				for _, m := range j.used {
					j.n += m.Len
				}
				if err := send(jobs, j); err != nil {
					return err
				}
			}
		}
		return nil
	})

	// Comparers: skip what the target holds; write zero chunks at once.
	var comparers sync.WaitGroup
	for range workers {
		comparers.Add(1)
		g.Go(func() error {
			defer comparers.Done()
			for j := range jobs {
				c.chunks.Add(1)
				opt.Progress.Add(progress.Items, 1)
				if !opt.Overwrite || j.ref.Zero {
					buf, err := take()
					if err != nil {
						return err
					}
					same := false
					if !opt.Overwrite {
						p := buf[:j.rng.Len]
						if err := readMasked(t, j.area, j.rng, j.used, p); err != nil {
							free <- buf
							return fmt.Errorf("reading disk %d at offset %d to compare it: %w", di+1, j.diskOff(), err)
						}
						opt.Progress.Add(progress.Read, j.n)
						same = matches(p, j.ref, &zeros)
					}
					if !same && j.ref.Zero {
						clear(buf)
						err = writeUsed(t, j, buf, nil)
					}
					free <- buf
					if err != nil {
						return fmt.Errorf("disk %d: %w", di+1, err)
					}
					if same {
						c.skipped.Add(j.n)
						c.skips.Add(1)
						opt.Progress.Add(progress.Skipped, j.n)
						opt.Progress.Add(progress.Done, j.n)
						continue
					}
					if j.ref.Zero {
						c.written.Add(j.n)
						c.zeroed.Add(j.n)
						opt.Progress.Add(progress.Written, j.n)
						opt.Progress.Add(progress.Done, j.n)
						continue
					}
				}
				if err := send(toFetch, j); err != nil {
					return err
				}
			}
			return nil
		})
	}
	go func() {
		comparers.Wait()
		close(toFetch)
	}()

	// Fetchers: several chunk reads in flight.
	var fetchers sync.WaitGroup
	for range fetches {
		fetchers.Add(1)
		g.Go(func() error {
			defer fetchers.Done()
			for j := range toFetch {
				enc, err := r.LoadChunkEncoded(gctx, j.ref.ID)
				if err != nil {
					return fmt.Errorf("fetching the chunk for disk %d at offset %d: %w", di+1, j.diskOff(), err)
				}
				j.enc = enc
				c.fetched.Add(int64(len(enc)))
				c.fetches.Add(1)
				opt.Progress.Add(progress.Fetched, int64(len(enc)))
				if err := send(toWrite, j); err != nil {
					return err
				}
			}
			return nil
		})
	}
	go func() {
		fetchers.Wait()
		close(toWrite)
	}()

	// Writers: decode and verify, then write the used parts.
	for range workers {
		g.Go(func() error {
			scratch := make([]byte, cs)
			for j := range toWrite {
				buf, err := take()
				if err != nil {
					return err
				}
				p, err := r.DecodeChunk(j.enc, j.ref.ID, buf)
				j.enc = nil
				if err == nil && int64(len(p)) != j.rng.Len {
					err = fmt.Errorf("chunk %s holds %d bytes, the image places %d bytes there: %w", j.ref.ID, len(p), j.rng.Len, chunk.ErrCorrupt)
				}
				if err != nil {
					free <- buf
					return fmt.Errorf("disk %d, offset %d: %w; the repository is damaged: run 'rewind check --read-data' on it to find every damaged chunk, and restore an older image", di+1, j.diskOff(), err)
				}
				err = writeUsed(t, j, p, scratch)
				free <- buf
				if err != nil {
					return fmt.Errorf("disk %d: %w", di+1, err)
				}
				c.written.Add(j.n)
				opt.Progress.Add(progress.Written, j.n)
				opt.Progress.Add(progress.Done, j.n)
			}
			return nil
		})
	}
	err := g.Wait()
	// Unblock the closing goroutines if the group stopped early.
	for range jobs {
	}
	for range toFetch {
	}
	for range toWrite {
	}
	return err
}

// writeUsed writes the used parts of chunk j, whose plaintext is p. Parts
// less than readGap apart are written as one: the gaps are read from the
// target into scratch first and written back as they were, so that a
// fragmented chunk costs one read and one write rather than a write per
// part. With a nil scratch every part is written on its own.
func writeUsed(t readerWriterAt, j *job, p, scratch []byte) error {
	parts := j.used
	for len(parts) > 0 {
		n := 1
		for n < len(parts) && parts[n].Off-parts[n-1].End() < readGap {
			n++
		}
		run := repo.Extent{Off: parts[0].Off, Len: parts[n-1].End() - parts[0].Off}
		off := j.diskOff() + run.Off
		data := p[run.Off:run.End()]
		if n > 1 && scratch != nil {
			data = scratch[:run.Len]
			if k, err := t.ReadAt(data, off); k != len(data) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("reading %d bytes at offset %d to merge writes: %w", len(data), off, err)
			}
			for _, m := range parts[:n] {
				copy(data[m.Off-run.Off:], p[m.Off:m.End()])
			}
		} else if n > 1 {
			run, n = parts[0], 1
			off, data = j.diskOff()+run.Off, p[run.Off:run.End()]
		}
		if _, err := t.WriteAt(data, off); err != nil {
			return fmt.Errorf("writing %d bytes at offset %d: %w", len(data), off, err)
		}
		parts = parts[n:]
	}
	return nil
}

// readerWriterAt is what writeUsed needs of a target.
type readerWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// readMasked reads chunk range rng of area a from src into p (rng.Len
// bytes): the used parts as they are, zeros elsewhere; what the chunk's
// plaintext is when src holds the image. Used parts less than readGap
// apart are read in one request.
func readMasked(src io.ReaderAt, a *repo.Area, rng repo.Extent, used []repo.Extent, p []byte) error {
	for _, run := range repo.Coalesce(used, readGap) {
		off := a.Offset + rng.Off + run.Off
		n, err := src.ReadAt(p[run.Off:run.End()], off)
		if int64(n) != run.Len {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading %d bytes at offset %d: %w", run.Len, off, err)
		}
	}
	pos := int64(0)
	for _, u := range used {
		clear(p[pos:u.Off])
		pos = u.End()
	}
	clear(p[pos:])
	return nil
}

// readGap is the largest gap between used parts read over rather than
// skipped: one larger read costs less than a seek.
const readGap = 64 << 10

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
