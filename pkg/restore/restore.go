// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package restore puts a disk image from a repository back onto disks: the
// partition table first, exactly as captured, then each partition's used
// blocks. Before a chunk is fetched the target's bytes are hashed, and a
// chunk the target already holds is neither fetched nor written; that makes
// a restore over last week's state fast and an interrupted restore resume
// where it stopped; the partition table's regions are compared the same way
// and written only where they differ. Everything written is read back from
// the disk and checked: span by span while the restore goes on where the
// target can be read past the page cache (a *disk.Device on Linux), else
// at the end. A restore that stops after it has begun writing says
// so (ErrPartlyWritten): running it again finishes it.
//
// Verify, the same read-back on its own, checks a disk against an image.
//
// Progress goes to a progress.Reporter in phases: "table" (one unit per
// target), "chunks" (used bytes, per disk) and "verify" (used bytes); the
// counters Read, Fetched, Written, Skipped and Items count across them.
package restore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// Source is a disk to read: ReadAt may be called concurrently.
type Source interface {
	io.ReaderAt
	Size() int64 // bytes
}

// Target is a disk to restore onto, a block device or a disk image file of
// fixed size. ReadAt and WriteAt may be called concurrently, on different
// ranges. *disk.Device implements it. Restore also uses these methods when
// a target has them (*disk.Device has the first four):
//
//	SectorSize() int                                   // must equal the image's
//	ZeroRange(ctx context.Context, off, n int64) error // Options.ZeroUnused
//	RereadPartitions(ctx context.Context) error        // after the table is written
//	Path() string                                      // to evict its cached pages before the read-back
//	DropCache() error                                  // instead of that eviction
//	OpenDirect() (interface{ io.ReaderAt; io.Closer }, error) // to read back beside the restore
type Target interface {
	Source
	io.WriterAt
	// Sync makes what was written durable.
	Sync() error
}

type zeroRanger interface {
	ZeroRange(ctx context.Context, off, n int64) error
}

type rereader interface {
	RereadPartitions(ctx context.Context) error
}

type cacheDropper interface {
	DropCache() error
}

// directOpener is a target that can be read past its page cache: each
// read comes from the device, after what was written to its range is
// flushed, so a range can be read back while others are being written.
type directOpener interface {
	OpenDirect() (interface {
		io.ReaderAt
		io.Closer
	}, error)
}

// Errors, wrapped by what Restore and Verify return; test with errors.Is.
var (
	// ErrTooSmall: a target cannot hold the image's disk; nothing was
	// written to any target.
	ErrTooSmall = disk.ErrTooSmall
	// ErrMismatch: the disk does not hold what the image says (Verify, and
	// Restore's read-back).
	ErrMismatch = errors.New("disk differs from the image")
	// ErrPartlyWritten: the restore stopped after it had started writing;
	// the targets hold part of the image and will not start as they are.
	// Running the same restore again, once the cause is fixed, finishes
	// it: it writes only what is still missing. The error's text says so.
	ErrPartlyWritten = errors.New("partly written")
)

// Options change how Restore works; the zero value is the safe default:
// compare before writing, write only used blocks, verify at the end.
type Options struct {
	// Workers hash, decode and write (0: one per CPU); Fetches is how many
	// chunk reads are in flight (0: 8).
	Workers, Fetches int
	// RunBytes bounds a read of chunks that lie next to each other in a
	// pack (0: repo.MaxRunBytes; 1: every chunk on its own).
	RunBytes int64
	// Overwrite writes every chunk without first comparing the target's
	// bytes: for a target known to be blank, where the comparison only
	// costs reads.
	Overwrite bool
	// ZeroUnused also zeroes the unused blocks of each partition (which a
	// restore otherwise leaves as the target had them); the gaps between
	// partitions stay as they are.
	ZeroUnused bool
	// NoVerify skips the read-back verification. Without it, what was
	// written is read back (the compare pass has read and checked the
	// rest from the disk already); with VerifyFull, every chunk is.
	NoVerify   bool
	VerifyFull bool
	// LockWait is how long to wait for a conflicting lock (prune) to go.
	LockWait time.Duration
	Progress progress.Reporter // nil: progress.Discard
	Now      func() time.Time  // nil: time.Now
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Fetches <= 0 {
		o.Fetches = 8
	}
	if o.RunBytes <= 0 || o.RunBytes > repo.MaxRunBytes {
		o.RunBytes = repo.MaxRunBytes
	}
	if o.Progress == nil {
		o.Progress = progress.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Summary is what a restore did.
type Summary struct {
	// Written counts the bytes restored onto the targets: the partition
	// table regions that differed, the used bytes of chunks that differed, and zeros (Zeroed
	// counts those). Unused bytes between close used parts of a chunk are
	// rewritten as they were, to save requests, and not counted.
	Written, Zeroed int64
	// Skipped counts the bytes the targets already held and that were
	// not written again: used bytes of chunks, and partition tables.
	Skipped int64
	// Fetched counts bytes read from the repository, as stored.
	Fetched int64
	// Chunks counts the image's chunks, Fetches those fetched, Skips those
	// that the targets already held.
	Chunks, Fetches, Skips int64
	Duration               time.Duration
	// Verified is true when the read-back ran and every chunk it read
	// matched; VerifiedBytes is how many used bytes it read. VerifiedAll
	// says it read every chunk (VerifyFull, or a target written blind);
	// otherwise it read what was written, and the chunks skipped were read
	// and checked by the compare pass, from the disk with its cache
	// dropped.
	Verified      bool
	VerifiedAll   bool
	VerifiedBytes int64
}

// Restore writes the disks of image snapshot snap onto targets: the image's
// first disk onto targets[0], and so on (there may be fewer targets than
// disks). It holds a shared lock on r throughout.
//
// A target smaller than the end of its disk's last partition is refused
// with ErrTooSmall before anything is written to any target. A chunk whose
// stored bytes do not match its ID stops the restore with an error (wrapping
// chunk.ErrCorrupt) that names the chunk and the disk offset it belongs at.
// The caller checks that the targets may be written (disk.CheckWritable).
func Restore(ctx context.Context, r *repo.Repository, snap *repo.Snapshot, targets []Target, opt Options) (*Summary, error) {
	opt = opt.withDefaults()
	start := opt.Now()
	img := snap.Image
	if img == nil {
		return nil, fmt.Errorf("snapshot %s is not a disk image", repo.ShortID(snap.ID()))
	}
	if len(targets) == 0 || len(targets) > len(img.Disks) {
		return nil, fmt.Errorf("image %s has %d disks; give 1 to %d targets, not %d", repo.ShortID(snap.ID()), len(img.Disks), len(img.Disks), len(targets))
	}
	lock, err := r.Lock(ctx, false, "restore", snap.Machine, opt.LockWait, repo.Locker{})
	if err != nil {
		return nil, fmt.Errorf("locking %s for the restore: %w", r.Location(), err)
	}
	defer lock.Unlock(context.WithoutCancel(ctx))

	// Every target is checked before anything is written to any.
	opt.Progress.Phase("table", int64(len(targets)))
	tables := make([]*table, len(targets))
	for i, t := range targets {
		d := &img.Disks[i]
		tb, err := loadTable(ctx, r, img, d)
		if err != nil {
			return nil, fmt.Errorf("disk %d (%s) of image %s: %w", i+1, d.Name, repo.ShortID(snap.ID()), err)
		}
		if err := tb.fits(t, d); err != nil {
			return nil, fmt.Errorf("target %d: %w", i+1, err)
		}
		tables[i] = tb
	}

	tl := &tally{rep: opt.Progress}
	var sum Summary
	failed := func(err error) (*Summary, error) {
		tl.addTo(&sum)
		sum.Duration = opt.Now().Sub(start)
		if tl.touched.Load() {
			what := "target disk is"
			if len(targets) > 1 {
				what = "target disks are"
			}
			err = fmt.Errorf("%w; the %s now %w: run the same restore again to finish it once the cause is fixed; it writes only what is still missing", err, what, ErrPartlyWritten)
		}
		return &sum, err
	}
	// Every disk's partition table first, then one phase for every disk's
	// chunks, so that its Done and total are the whole job's; Reporter.At
	// says which disk and partition.
	for i, t := range targets {
		if err := writeTable(ctx, i, tables[i], t, opt, tl); err != nil {
			return failed(err)
		}
	}
	var used int64
	for i := range targets {
		used += img.Disks[i].PartitionAreas().UsedBytes()
	}
	// The compare pass is the check of every chunk it skips, so it reads
	// the disk, not pages a killed restore left in memory.
	if !opt.Overwrite {
		for i, t := range targets {
			if err := t.Sync(); err == nil {
				err = dropCache(t)
			}
			if err != nil {
				opt.Progress.Note(progress.Warning, fmt.Sprintf("disk %d: could not drop its cached pages (%v); the comparison may read them from memory", i+1, err))
			}
		}
	}
	opt.Progress.Phase("chunks", used)
	// Only what was written is read back, unless every chunk is wanted, the
	// target was written blind, or partitions overlap (a later write may
	// change a chunk the compare pass found in place).
	all := opt.VerifyFull || opt.Overwrite
	written := make([]marks, len(targets))
	for i := range targets {
		d := &img.Disks[i]
		all = all || overlapping(d)
		written[i] = newMarks(d.PartitionAreas())
	}
	// A target that can be read past its page cache has its partitions'
	// chunks read back beside the restore, span by span; the read-back
	// after it then reads only the boot areas.
	backs := make([]*readBack, len(targets))
	for i, t := range targets {
		d := &img.Disks[i]
		do, ok := t.(directOpener)
		if !ok || opt.NoVerify || !besideOK(img.ChunkSize, d, opt) {
			continue
		}
		direct, err := do.OpenDirect()
		if err != nil {
			continue // read back after the restore, as without
		}
		defer direct.Close()
		backs[i] = &readBack{chk: &checker{di: i, src: sized{direct, t.Size()}, rep: opt.Progress}, keep: func(a *repo.Area, k int) bool {
			return all || written[i].has(a, k)
		}}
	}
	for i, t := range targets {
		d := &img.Disks[i]
		if err := restoreDisk(ctx, r, img, i, d, tables[i], t, opt, tl, written[i], backs[i]); err != nil {
			return failed(err)
		}
	}
	tl.addTo(&sum)
	if !opt.NoVerify {
		keep := func(i int) func(a *repo.Area, k int) bool {
			if all && backs[i] == nil {
				return nil
			}
			return func(a *repo.Area, k int) bool {
				_, part := written[i][a]
				if !part {
					return true // boot areas whole
				}
				return backs[i] == nil && written[i].has(a, k)
			}
		}
		for _, b := range backs {
			if b == nil {
				continue
			}
			sum.VerifiedBytes += b.chk.bytes()
			if err := b.chk.err(); err != nil {
				sum.Duration = opt.Now().Sub(start)
				return &sum, readBackFailed(err)
			}
		}
		var total int64
		for i := range targets {
			total += verifyBytes(img.ChunkSize, &img.Disks[i], keep(i))
		}
		opt.Progress.Phase("verify", total)
		for i, t := range targets {
			if err := dropCache(t); err != nil {
				opt.Progress.Note(progress.Warning, fmt.Sprintf("disk %d: could not drop its cached pages (%v); the read-back may come from memory", i+1, err))
			}
			n, err := verifyDisk(ctx, img.ChunkSize, i, &img.Disks[i], t, opt.Workers, opt.Progress, keep(i))
			sum.VerifiedBytes += n
			if err != nil {
				sum.Duration = opt.Now().Sub(start)
				return &sum, readBackFailed(err)
			}
		}
		sum.Verified, sum.VerifiedAll = true, all
	}
	sum.Duration = opt.Now().Sub(start)
	return &sum, nil
}

// sized is a reader of a disk of size bytes.
type sized struct {
	io.ReaderAt
	size int64
}

func (s sized) Size() int64 { return s.size }

// readBackFailed says what a read-back that found err means.
func readBackFailed(err error) error {
	return fmt.Errorf("read-back after the restore: %w; the disk does not hold what was written: run the restore again, and if this repeats, the disk or its cable is failing", err)
}

// besideOK reports whether disk d's chunks can be read back beside the
// restore, each span as soon as it is written. Not when partitions overlap
// (a later write to one may change a chunk of another read back earlier),
// nor when unused blocks are zeroed after the chunks (a zeroed block may
// share a page with a used one), nor when chunks do not start on pages:
// then two spans share a page, and the page cache writes the second's
// page whole, the first's part of it too, after that was read back.
func besideOK(cs int, d *repo.Disk, opt Options) bool {
	page := os.Getpagesize()
	if opt.ZeroUnused || overlapping(d) || cs%page != 0 {
		return false
	}
	for _, a := range d.PartitionAreas() {
		if a.Offset%int64(page) != 0 {
			return false
		}
	}
	return true
}

// writeTable writes disk di's partition table onto t.
func writeTable(ctx context.Context, di int, tb *table, t Target, opt Options, tl *tally) error {
	opt.Progress.At(di+1, 0)
	if tb.layout != nil {
		w := &tableWriter{t: t, overwrite: opt.Overwrite, tally: tl}
		if err := disk.WriteTable(ctx, w, t.Size(), tb.saved, tb.layout); err != nil {
			return fmt.Errorf("writing the partition table of disk %d: %w", di+1, err)
		}
	}
	opt.Progress.Add(progress.Done, 1)
	return nil
}

// restoreDisk writes one disk's chunks onto t, its table written already.
func restoreDisk(ctx context.Context, r *repo.Repository, img *repo.Image, di int, d *repo.Disk, tb *table, t Target, opt Options, tl *tally, written marks, back *readBack) error {
	if err := restoreChunks(ctx, r, img, di, d, t, opt, tl, written, back); err != nil {
		return err
	}
	if opt.ZeroUnused {
		if err := zeroUnused(ctx, di, d, t, tl); err != nil {
			return err
		}
	}
	if err := t.Sync(); err != nil {
		return fmt.Errorf("flushing disk %d: %w", di+1, err)
	}
	if rr, ok := t.(rereader); ok && tb.layout != nil {
		if err := rr.RereadPartitions(ctx); err != nil {
			// The data is written; the kernel will see the new table at the
			// next boot.
			opt.Progress.Note(progress.Warning, fmt.Sprintf("disk %d: the kernel did not re-read the partition table (%v); it will at the next boot", di+1, err))
		}
	}
	return nil
}

// zeroUnused zeroes every byte of d's partitions that no partition uses:
// where partitions overlap, one's free space may be another's data.
func zeroUnused(ctx context.Context, di int, d *repo.Disk, t Target, tl *tally) error {
	zr, _ := t.(zeroRanger)
	var zeros []byte
	for _, g := range unusedRanges(d) {
		off := g.Off
		tl.touch()
		if zr != nil {
			if err := zr.ZeroRange(ctx, off, g.Len); err != nil {
				return fmt.Errorf("zeroing %d unused bytes at offset %d of disk %d: %w", g.Len, off, di+1, err)
			}
		} else {
			if zeros == nil {
				zeros = make([]byte, 1<<20)
			}
			for n := int64(0); n < g.Len; {
				if err := ctx.Err(); err != nil {
					return err
				}
				k := min(g.Len-n, int64(len(zeros)))
				if _, err := t.WriteAt(zeros[:k], off+n); err != nil {
					return fmt.Errorf("zeroing unused bytes at offset %d of disk %d: %w", off+n, di+1, err)
				}
				n += k
			}
		}
		tl.wrote(g.Len, true)
	}
	return nil
}

// unusedRanges returns, in disk offsets, the bytes inside d's partitions
// that no partition uses. Each partition's used extents lie inside it, so
// each merged used extent lies inside one merged partition range.
func unusedRanges(d *repo.Disk) []repo.Extent {
	var parts, used []repo.Extent
	for _, p := range d.Partitions {
		parts = append(parts, repo.Extent{Off: p.Offset, Len: p.Length})
		for _, u := range p.Used {
			used = append(used, repo.Extent{Off: p.Offset + u.Off, Len: u.Len})
		}
	}
	parts, used = union(parts), union(used)
	var gaps []repo.Extent
	k := 0
	for _, p := range parts {
		pos := p.Off
		for ; k < len(used) && used[k].Off < p.End(); k++ {
			if used[k].Off > pos {
				gaps = append(gaps, repo.Extent{Off: pos, Len: used[k].Off - pos})
			}
			pos = max(pos, used[k].End())
		}
		if pos < p.End() {
			gaps = append(gaps, repo.Extent{Off: pos, Len: p.End() - pos})
		}
	}
	return gaps
}

// union sorts ext and merges the extents that overlap or touch.
func union(ext []repo.Extent) []repo.Extent {
	ext = slices.Clone(ext)
	slices.SortFunc(ext, func(a, b repo.Extent) int { return cmp.Compare(a.Off, b.Off) })
	var out []repo.Extent
	for _, e := range ext {
		if e.Len <= 0 {
			continue
		}
		if n := len(out); n > 0 && e.Off <= out[n-1].End() {
			out[n-1].Len = max(out[n-1].End(), e.End()) - out[n-1].Off
			continue
		}
		out = append(out, e)
	}
	return out
}

// verifyTotal is the used bytes the read-back of the first n disks checks.
// verifyBytes returns the used bytes of d's areas a read-back reads: the
// chunks keep accepts (all when nil).
func verifyBytes(cs int, d *repo.Disk, keep func(a *repo.Area, k int) bool) int64 {
	if keep == nil {
		return d.Areas().UsedBytes()
	}
	var n int64
	for _, a := range d.Areas() {
		for k, c := range a.Chunks {
			if keep(a, k) {
				n += repo.Size(a.Masked(a.Range(c.I, cs)))
			}
		}
	}
	return n
}

func verifyTotal(img *repo.Image, n int) int64 {
	var total int64
	for i := range n {
		total += img.Disks[i].Areas().UsedBytes()
	}
	return total
}

// tableWriter writes a partition table's regions (disk.WriteTable's
// writes, about 1 MiB: the head area, a GPT's backup, EBRs) onto a target,
// each only if the target does not hold it already, as for chunks. With
// overwrite it writes without reading. Not safe for concurrent use.
type tableWriter struct {
	t         Target
	overwrite bool
	tally     *tally
	buf       []byte
}

// IsBlock, SectorSize and Path pass on what disk.WriteTable asks of the
// target (its sector-size guard, the device named in a refusal); a target
// without them answers as if it had none.
func (w *tableWriter) IsBlock() bool {
	b, ok := w.t.(interface{ IsBlock() bool })
	return !ok || b.IsBlock()
}

func (w *tableWriter) SectorSize() int {
	if s, ok := w.t.(interface{ SectorSize() int }); ok {
		return s.SectorSize()
	}
	return 0
}

func (w *tableWriter) Path() string {
	if p, ok := w.t.(interface{ Path() string }); ok {
		return p.Path()
	}
	return "(unnamed)"
}

func (w *tableWriter) WriteAt(p []byte, off int64) (int, error) {
	n := int64(len(p))
	if !w.overwrite {
		if cap(w.buf) < len(p) {
			w.buf = make([]byte, len(p))
		}
		held := w.buf[:len(p)]
		if err := readFull(w.t, held, off); err != nil {
			return 0, fmt.Errorf("reading %d bytes at offset %d to compare them before writing: %w", n, off, err)
		}
		w.tally.read(n)
		if bytes.Equal(held, p) {
			w.tally.held(n)
			return len(p), nil
		}
	}
	w.tally.touch()
	k, err := w.t.WriteAt(p, off)
	if err != nil {
		return k, err
	}
	w.tally.wrote(n, false)
	return k, nil
}
