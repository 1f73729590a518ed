// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package capture

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/pierrec/lz4/v4"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// span is one large read: consecutive chunks of an area, read together into
// one buffer with every byte outside the area's Used left zero.
type span struct {
	src   Source
	disk  int
	area  *repo.Area
	refs  []repo.ChunkRef // a window of area.Chunks, filled in by the workers
	start int64           // offset of the span in the area
	buf   []byte
}

// upload is an encoded chunk on its way to the repository.
type upload struct {
	id  chunk.ID
	enc []byte
}

// chunkSet is what the repository holds or this run is storing, with the
// stored size of each (-1 while its upload runs). Safe for concurrent use.
type chunkSet struct {
	mu   sync.Mutex
	size map[chunk.ID]int64
}

// claim reports whether id is new, and if so marks it as being stored.
func (s *chunkSet) claim(id chunk.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.size[id]; ok {
		return false
	}
	s.size[id] = -1
	return true
}

func (s *chunkSet) stored(id chunk.ID, n int64) {
	s.mu.Lock()
	s.size[id] = n
	s.mu.Unlock()
}

// storeChunks reads, hashes, compresses and stores the chunks img lists,
// filling in their IDs. It returns the image's byte counts.
func storeChunks(ctx context.Context, r *repo.Repository, img *repo.Image, disks []Source, opt Options) (repo.ImageStats, error) {
	var st repo.ImageStats
	cs := img.ChunkSize
	known := &chunkSet{size: make(map[chunk.ID]int64)}
	opt.Progress.Phase("index", 0)
	err := r.ListChunks(ctx, func(c repo.StoredChunk) error {
		known.size[c.ID] = c.Size
		return nil
	}, nil)
	if err != nil {
		return st, fmt.Errorf("listing the chunks %s holds: %w", r.Location(), err)
	}

	var total int64
	for _, d := range img.Disks {
		for _, a := range d.Boot {
			total += a.UsedBytes
		}
		for _, p := range d.Partitions {
			total += p.UsedBytes
		}
	}
	opt.Progress.Phase("chunks", total)

	spanSize := max(opt.ReadSize/cs, 1) * cs
	g, gctx := errgroup.WithContext(ctx)
	freeSpans := make(chan []byte, opt.Workers+1)
	for range opt.Workers + 1 {
		freeSpans <- make([]byte, spanSize)
	}
	freeEnc := make(chan []byte, opt.Workers+opt.Uploads)
	for range opt.Workers + opt.Uploads {
		freeEnc <- make([]byte, 0, chunk.MaxEncodedLen(cs))
	}
	spans := make(chan *span, opt.Workers)
	uploads := make(chan upload, opt.Uploads)
	var mu sync.Mutex // guards st

	// The reader: areas in disk order, each in spans of whole chunks.
	g.Go(func() error {
		defer close(spans)
		for di := range img.Disks {
			d := &img.Disks[di]
			areas := make([]*repo.Area, 0, len(d.Boot)+len(d.Partitions))
			for j := range d.Boot {
				areas = append(areas, &d.Boot[j])
			}
			for j := range d.Partitions {
				areas = append(areas, &d.Partitions[j].Area)
			}
			// In disk order, so that a spinning disk reads straight through.
			sort.SliceStable(areas, func(x, y int) bool { return areas[x].Offset < areas[y].Offset })
			for _, a := range areas {
				for k := 0; k < len(a.Chunks); {
					var buf []byte
					select {
					case buf = <-freeSpans:
					case <-gctx.Done():
						return gctx.Err()
					}
					sp := &span{src: disks[di], disk: di, area: a, start: a.Chunks[k].I * int64(cs), buf: buf}
					end := k
					for end < len(a.Chunks) && a.Range(a.Chunks[end].I, cs).End()-sp.start <= int64(spanSize) {
						end++
					}
					sp.refs = a.Chunks[k:end]
					k = end
					n, err := sp.read(cs)
					if err != nil {
						return err
					}
					opt.Progress.Add(progress.Read, n)
					mu.Lock()
					st.ReadBytes += n
					mu.Unlock()
					select {
					case spans <- sp:
					case <-gctx.Done():
						return gctx.Err()
					}
				}
			}
		}
		return nil
	})

	// The workers: hash every chunk, compress the new ones.
	var workers sync.WaitGroup
	for range opt.Workers {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			var c lz4.Compressor
			for sp := range spans {
				for i := range sp.refs {
					ref := &sp.refs[i]
					rng := sp.area.Range(ref.I, cs)
					p := sp.buf[rng.Off-sp.start : rng.End()-sp.start]
					ref.ID = chunk.Hash(p)
					ref.Zero = chunk.IsZero(p)
					var used int64
					for _, m := range sp.area.Masked(rng) {
						used += m.Len
					}
					opt.Progress.Add(progress.Done, used)
					opt.Progress.Add(progress.Items, 1)
					if ref.Zero || !known.claim(ref.ID) {
						continue
					}
					var enc []byte
					select {
					case enc = <-freeEnc:
					case <-gctx.Done():
						return gctx.Err()
					}
					enc = chunk.Encode(&c, enc[:0], p)
					select {
					case uploads <- upload{ref.ID, enc}:
					case <-gctx.Done():
						return gctx.Err()
					}
				}
				freeSpans <- sp.buf
			}
			return nil
		})
	}
	go func() {
		workers.Wait()
		close(uploads)
	}()

	// The uploaders: several requests in flight.
	for range opt.Uploads {
		g.Go(func() error {
			for u := range uploads {
				if err := r.SaveChunk(gctx, u.id, u.enc); err != nil {
					return err
				}
				n := int64(len(u.enc))
				known.stored(u.id, n)
				opt.Progress.Add(progress.Stored, n)
				mu.Lock()
				st.NewBytes += n
				st.NewChunks++
				mu.Unlock()
				freeEnc <- u.enc
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		// Let the closer goroutine finish: drain what the workers left.
		for range spans {
		}
		return st, err
	}

	// What the image occupies in the repository, counting each chunk once.
	seen := make(map[chunk.ID]bool)
	for _, d := range img.Disks {
		for _, a := range d.Boot {
			st.StoredBytes += storedSize(a.Chunks, known, seen)
		}
		for _, p := range d.Partitions {
			st.StoredBytes += storedSize(p.Chunks, known, seen)
		}
	}
	return st, nil
}

func storedSize(refs []repo.ChunkRef, known *chunkSet, seen map[chunk.ID]bool) int64 {
	var n int64
	for _, c := range refs {
		if c.Zero || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		n += max(known.size[c.ID], 0)
	}
	return n
}

// read fills the span's buffer: the used bytes of its chunks, zeros
// elsewhere. Used extents less than readGap apart are read in one request
// and the gap cleared afterwards: one larger read costs less than a seek.
// It returns the bytes read.
func (sp *span) read(cs int) (int64, error) {
	last := sp.refs[len(sp.refs)-1]
	end := sp.area.Range(last.I, cs).End()
	buf := sp.buf[:end-sp.start]
	used := sp.area.Masked(repo.Extent{Off: sp.start, Len: end - sp.start})
	var n int64
	for _, run := range repo.Coalesce(used, readGap) {
		off := sp.area.Offset + sp.start + run.Off
		k, err := sp.src.ReadAt(buf[run.Off:run.End()], off)
		if k != int(run.Len) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("reading %d bytes at offset %d of disk %d: %w", run.Len, off, sp.disk+1, err)
		}
		n += run.Len
	}
	// Zero what is not used: before the first extent, between, after.
	pos := int64(0)
	for _, u := range used {
		clear(buf[pos:u.Off])
		pos = u.End()
	}
	clear(buf[pos:])
	return n, nil
}

// readGap is the largest gap between used extents read over rather than
// skipped.
const readGap = 64 << 10
