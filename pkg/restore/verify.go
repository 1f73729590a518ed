// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// VerifyOptions change how Verify works.
type VerifyOptions struct {
	Workers  int               // 0: one per CPU
	Progress progress.Reporter // nil: progress.Discard
}

// VerifyResult is what Verify checked.
type VerifyResult struct {
	Chunks int64 // chunks checked
	Bytes  int64 // used bytes checked
}

// Verify re-reads disks and checks them against image img: disks[i]
// against the image's disk i (from the disk itself: a source with a Path,
// such as a *disk.Device, has its cached pages evicted first). Every chunk's range is read, masked to its
// used bytes, hashed and compared with the chunk's ID; the partition table
// is compared byte for byte on a disk of the captured size, and entry by
// entry on a larger one (where the GPT backup has moved). Verify needs no
// repository: the manifest holds every hash.
//
// A disk that differs is an error wrapping ErrMismatch, naming the first
// differing chunks by ID and disk offset and counting the rest.
func Verify(ctx context.Context, img *repo.Image, disks []Source, opt VerifyOptions) (*VerifyResult, error) {
	if len(disks) == 0 || len(disks) > len(img.Disks) {
		return nil, fmt.Errorf("the image has %d disks; give 1 to %d disks to verify, not %d", len(img.Disks), len(img.Disks), len(disks))
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.Progress == nil {
		opt.Progress = progress.Discard
	}
	opt.Progress.Phase("verify", verifyTotal(img, len(disks)))
	res := &VerifyResult{}
	for i, src := range disks {
		if err := dropCache(src); err != nil {
			opt.Progress.Note(progress.Warning, fmt.Sprintf("disk %d: could not drop its cached pages (%v); some of it may be read from memory", i+1, err))
		}
		n, err := verifyDisk(ctx, img.ChunkSize, i, &img.Disks[i], src, opt.Workers, opt.Progress, nil)
		res.Bytes += n
		res.Chunks += img.Disks[i].PartitionAreas().Chunks()
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// mismatch is a chunk whose range on the disk does not hash to its ID;
// zeroed says the range holds bytes the image records as zeros.
type mismatch struct {
	id     chunk.ID
	off    int64
	zeroed bool
}

// verifyDisk checks disk di of an image against src, the chunks keep
// accepts (all when nil), and returns the used bytes it checked.
func verifyDisk(ctx context.Context, cs, di int, d *repo.Disk, src Source, workers int, rep progress.Reporter, keep func(a *repo.Area, k int) bool) (int64, error) {
	need := d.PartitionAreas().End()
	if src.Size() < need {
		return 0, fmt.Errorf("disk %d is %s, but the image's partitions end at %s: it is not the disk this image was restored to: %w",
			di+1, bytesExact(src.Size()), bytesExact(need), ErrMismatch)
	}
	areas := d.PartitionAreas()
	if src.Size() == d.Size {
		areas = d.Areas()
	} else if d.Table != disk.TypeNone && d.Table != "" {
		l, err := disk.ReadLayout(src, src.Size())
		if err != nil {
			return 0, fmt.Errorf("disk %d: reading its partition table: %w", di+1, err)
		}
		if err := sameLayout(l, d); err != nil {
			return 0, fmt.Errorf("disk %d: %w", di+1, err)
		}
		rep.Add(progress.Done, d.BootAreas().UsedBytes())
	}

	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan span, workers)
	chk := &checker{di: di, src: src, rep: rep}
	g.Go(func() error { return sendSpansOf(gctx, areas, cs, jobs, partAt(rep, di, d), keep) })
	for range workers {
		g.Go(func() error {
			buf := make([]byte, max(cs, spanBytes))
			for sp := range jobs {
				if err := chk.check(sp, buf, true); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		for range jobs {
		}
		return chk.bytes(), err
	}
	return chk.bytes(), chk.err()
}

// checker reads chunks back from a disk and checks them against the
// image, keeping a list of those that differ. Its methods may be called
// concurrently.
type checker struct {
	di    int // the disk's place in the image
	src   Source
	rep   progress.Reporter
	zeros zeroIDs

	mu      sync.Mutex
	bad     []mismatch
	checked int64
}

// check reads span sp from the disk into buf (at least sp.size() bytes)
// and checks each of its chunks; done says the bytes count as the phase's
// work done, as they do in a verification of its own. A chunk that differs
// is kept for err; a read that fails is the error.
func (c *checker) check(sp span, buf []byte, done bool) error {
	err := readSpan(c.src, sp, buf, func(j *job, q []byte) error {
		ok := matches(q, j.ref, &c.zeros)
		c.mu.Lock()
		c.checked += j.n
		if !ok {
			zeroed := repo.Size(j.area.Data(j.rng)) < j.n
			c.bad = append(c.bad, mismatch{j.ref.ID, j.diskOff(), zeroed})
		}
		c.mu.Unlock()
		c.rep.Add(progress.Read, j.n)
		if done {
			c.rep.Add(progress.Done, j.n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("disk %d: reading it back: %w", c.di+1, err)
	}
	return nil
}

// bytes returns the used bytes checked so far.
func (c *checker) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checked
}

// err returns an error wrapping ErrMismatch that names the first chunks
// that differed by ID and disk offset and counts the rest, or nil.
func (c *checker) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	bad := c.bad
	if len(bad) == 0 {
		return nil
	}
	sort.Slice(bad, func(a, b int) bool { return bad[a].off < bad[b].off })
	msg := ""
	for i, m := range bad[:min(len(bad), 3)] {
		if i > 0 {
			msg += ", "
		}
		msg += fmt.Sprintf("chunk %s at offset %d", m.id, m.off)
	}
	if len(bad) > 3 {
		msg += fmt.Sprintf(" and %d more", len(bad)-3)
	}
	zeroed := 0
	for _, m := range bad {
		if m.zeroed {
			zeroed++
		}
	}
	if zeroed > 0 {
		msg += fmt.Sprintf(" (%d of them hold ranges the image restores as zeros, such as an ext3/4 journal's log: a disk that was captured, rather than restored from this image, still holds its old journal there)", zeroed)
	}
	return fmt.Errorf("disk %d: %d chunks differ from the image: %s: %w", c.di+1, len(bad), msg, ErrMismatch)
}
