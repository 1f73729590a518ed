// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package capture images whole disks into a repository: each disk's
// partition table and boot area verbatim, and each partition's used blocks
// as fixed-size chunks, hashed and compressed on every core, uploading only
// the chunks the repository does not hold yet.
//
// Progress goes to a progress.Reporter in phases: "layout" (one unit per
// disk), "index" (listing the repository's chunks), "chunks" (used bytes)
// and "snapshot"; the counters Read, Stored and Items count across them.
package capture

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// Source is a disk to capture: a block device or a disk image file.
// ReadAt may be called concurrently and must not see the disk change while
// the capture runs. *disk.Device implements it.
type Source interface {
	io.ReaderAt
	// Size is the disk's size in bytes.
	Size() int64
	// SectorSize is its logical sector size (512 for image files).
	SectorSize() int
}

// describer is what a *disk.Device tells about itself; a Source without it
// is recorded by size only.
type describer interface {
	Path() string
	Name() string
	Model() string
	Serial() string
}

// Mapper returns the used extents of a partition of size bytes read
// through r, as blockmap.Read does. It may be called concurrently.
type Mapper func(ctx context.Context, r io.ReaderAt, size int64) (*blockmap.Map, error)

// Options change how Capture works. The zero value (with Machine set) is a
// sensible capture.
type Options struct {
	Machine string // the machine's name in the repository (required)
	Note    string
	Host    string // the host name recorded in the snapshot
	// Hardware is recorded in the snapshot (job.ThisHardware); nil: none.
	Hardware *repo.Hardware
	// Force maps filesystems that say they were not shut down cleanly
	// instead of imaging them raw (blockmap.Options.Force).
	Force bool
	// Workers hash and compress chunks (0: one per CPU); Uploads store
	// them (0: 4); ReadSize is the largest single disk read (0: 8 MiB).
	Workers, Uploads, ReadSize int
	// IndexMax bounds the chunks of the repository's index a capture keeps
	// in memory (0: repo.DefaultIndexMax); see repo.IndexOptions.Max.
	IndexMax int
	// LockWait is how long to wait for a conflicting lock (prune) to go.
	LockWait time.Duration
	Progress progress.Reporter // nil: progress.Discard
	Map      Mapper            // nil: blockmap.Read
	Now      func() time.Time  // nil: time.Now
}

// Result is a finished capture.
type Result struct {
	Snapshot *repo.Snapshot // as stored; Snapshot.ID() names it
	Stats    repo.ImageStats
	Duration time.Duration
	// Warnings are things the technician should know: partitions imaged
	// raw because their filesystem could not be mapped, and why.
	Warnings []string
}

// Capture images disks into r as one image snapshot of opt.Machine, holding
// a shared lock on r throughout. Chunks the repository already holds are
// not uploaded again, all-zero chunks are recorded but never stored, and
// the snapshot is saved last, after every chunk it names.
func Capture(ctx context.Context, r *repo.Repository, disks []Source, opt Options) (*Result, error) {
	if len(disks) == 0 {
		return nil, errors.New("no disk to capture")
	}
	if err := repo.ValidMachine(opt.Machine); err != nil {
		return nil, err
	}
	opt = opt.withDefaults()
	start := opt.Now()
	lock, err := r.Lock(ctx, false, "capture", opt.Machine, opt.LockWait, repo.Locker{})
	if err != nil {
		return nil, fmt.Errorf("locking %s for the capture: %w", r.Location(), err)
	}
	defer lock.Unlock(context.WithoutCancel(ctx))

	cs := r.Config().ChunkSize
	img := &repo.Image{ChunkSize: cs}
	var res Result
	opt.Progress.Phase("layout", int64(len(disks)))
	for i, src := range disks {
		d, warns, err := planDisk(ctx, src, cs, opt)
		if err != nil {
			return nil, fmt.Errorf("disk %d (%s): %w", i+1, sourceName(src), err)
		}
		for _, w := range warns {
			opt.Progress.Note(progress.Warning, w)
		}
		res.Warnings = append(res.Warnings, warns...)
		img.Disks = append(img.Disks, d)
		opt.Progress.Add(progress.Done, 1)
	}
	// In a repository of packs a chunk may be of any size: an image too
	// large to hold in memory at the repository's size is cut coarser, as
	// finely as that allows. The size depends only on the layout, so the
	// same machine's next capture picks it again and shares its chunks.
	for r.Packed() && img.PlannedChunks() > repo.MaxImageChunks && img.ChunkSize < repo.MaxChunkSize {
		rechunk(img, 2*img.ChunkSize)
	}
	if cs != img.ChunkSize {
		w := fmt.Sprintf("these disks hold too much to list in %s chunks; this image uses %s chunks, so a week of changes stores more anew", human.Bytes(int64(cs)), human.Bytes(int64(img.ChunkSize)))
		// (The restore's lists cost ~56 bytes a chunk: MaxImageChunks of
		// them stay within the boot environment's memory.)
		opt.Progress.Note(progress.Warning, w)
		res.Warnings = append(res.Warnings, w)
		cs = img.ChunkSize
	}
	if n := img.PlannedChunks(); r.Packed() && n > repo.MaxImageChunks {
		return nil, fmt.Errorf("an image of these disks would list %d chunks even at %s each, more than the %d a restore can hold in the boot environment's memory; capture fewer disks per image: %w",
			n, human.Bytes(int64(img.ChunkSize)), repo.MaxImageChunks, repo.ErrSnapshotTooLarge)
	}
	if size := img.EstimateSize(r.Packed()); size > repo.MaxSnapshotSize {
		return nil, fmt.Errorf("an image of these disks would list too many chunks at this repository's chunk size (%s): its snapshot would be about %d MiB, more than the %d MiB a restore can load in the boot environment's memory; capture fewer disks per image, or use a repository made with a larger --chunk-size: %w",
			human.Bytes(int64(cs)), size>>20, repo.MaxSnapshotSize>>20, repo.ErrSnapshotTooLarge)
	}

	stats, err := storeChunks(ctx, r, img, disks, opt)
	if err != nil {
		return nil, err
	}
	img.Stats = &stats
	snap := &repo.Snapshot{
		Kind:     repo.KindImage,
		Machine:  opt.Machine,
		Time:     start,
		Host:     opt.Host,
		Note:     opt.Note,
		Duration: repo.Duration(opt.Now().Sub(start)),
		Image:    img,
		Hardware: hardware(opt.Hardware, img),
	}
	opt.Progress.Phase("snapshot", 1)
	if _, err := r.SaveSnapshot(ctx, snap); err != nil {
		return nil, err
	}
	opt.Progress.Add(progress.Done, 1)
	res.Snapshot = snap
	res.Stats = stats
	res.Duration = opt.Now().Sub(start)
	return &res, nil
}

// hardware returns h with the serials of img's disks, or nil when there is
// nothing to record.
func hardware(h *repo.Hardware, img *repo.Image) *repo.Hardware {
	if h == nil {
		return nil
	}
	out := *h
	out.Disks = nil
	for _, d := range img.Disks {
		if d.Serial != "" {
			out.Disks = append(out.Disks, d.Serial)
		}
	}
	return &out
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Uploads <= 0 {
		o.Uploads = 4
	}
	if o.ReadSize <= 0 {
		o.ReadSize = 8 << 20
	}
	if o.IndexMax <= 0 {
		o.IndexMax = repo.DefaultIndexMax
	}
	if o.Progress == nil {
		o.Progress = progress.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Map == nil {
		force := o.Force
		o.Map = func(ctx context.Context, r io.ReaderAt, size int64) (*blockmap.Map, error) {
			return blockmap.Read(ctx, r, size, blockmap.Options{Force: force})
		}
	}
	return o
}

// sourceName names a source for messages and the manifest.
func sourceName(src Source) string {
	if d, ok := src.(describer); ok {
		if d.Name() != "" {
			return d.Name()
		}
		return filepath.Base(d.Path())
	}
	return "disk"
}

// planDisk reads a disk's layout and used-block maps and returns its
// manifest entry with every chunk listed but not yet hashed.
func planDisk(ctx context.Context, src Source, cs int, opt Options) (repo.Disk, []string, error) {
	size := src.Size()
	l, err := disk.ReadLayout(src, size)
	if err != nil {
		return repo.Disk{}, nil, fmt.Errorf("reading the partition table: %w", err)
	}
	d := repo.Disk{
		Name:       sourceName(src),
		Size:       size,
		SectorSize: l.SectorSize,
		Table:      l.Type,
		DiskGUID:   l.DiskGUID,
		Signature:  l.Signature,
		Boot:       []repo.Area{},
		Partitions: []repo.Partition{},
	}
	if dd, ok := src.(describer); ok {
		d.Model, d.Serial = dd.Model(), dd.Serial()
	}
	warns := append([]string(nil), l.Warnings...)
	for _, reg := range l.Regions() {
		a := repo.Area{Offset: reg.Offset, Length: reg.Length}
		a.Used = []repo.Extent{{Off: 0, Len: reg.Length}}
		a.UsedBytes = reg.Length
		a.Chunks = chunkList(a.Used, cs)
		d.Boot = append(d.Boot, a)
	}
	parts := l.Partitions
	if l.Type == disk.TypeNone {
		// A filesystem on the whole disk, with no table: one area.
		parts = []disk.Partition{{Index: 0, Start: 0, Size: size}}
	}
	for _, p := range parts {
		if p.Extended || p.Size <= 0 {
			continue // the extended container's EBRs are boot regions
		}
		if p.Start < 0 || p.End() > size {
			return repo.Disk{}, nil, fmt.Errorf("partition %d (%d bytes at %d) lies beyond the disk's end (%d bytes)", p.Index, p.Size, p.Start, size)
		}
		m, err := opt.Map(ctx, io.NewSectionReader(src, p.Start, p.Size), p.Size)
		if errors.Is(err, blockmap.ErrCorrupt) || errors.Is(err, blockmap.ErrUnclean) {
			w := fmt.Sprintf("partition %d: %v; imaging it raw (every block)", p.Index, err)
			warns = append(warns, w)
			// What the filesystem is, as far as it was read, is kept: a
			// replay finds an unclean root filesystem by its name.
			var known blockmap.Summary
			if fe := (*blockmap.FSError)(nil); errors.As(err, &fe) {
				known = fe.Summary
			}
			m = &blockmap.Map{
				Summary: blockmap.Summary{FS: known.FS, Label: known.Label, UUID: known.UUID,
					Mode: blockmap.Raw, Reason: err.Error(), Total: p.Size, Used: p.Size},
				Extents: []blockmap.Extent{{Off: 0, Len: p.Size}},
			}
		} else if err != nil {
			return repo.Disk{}, nil, fmt.Errorf("mapping the used blocks of partition %d: %w", p.Index, err)
		}
		rp := repo.Partition{
			Index:    p.Index,
			Type:     p.Type,
			TypeName: p.TypeName,
			GUID:     p.GUID,
			Name:     p.Name,
			FS:       m.FS,
			Label:    m.Label,
			UUID:     m.UUID,
			Mode:     string(m.Mode),
			Reason:   m.Reason,
			Area:     repo.Area{Offset: p.Start, Length: p.Size, Used: []repo.Extent{}},
		}
		if rp.Mode == "" {
			rp.Mode = string(blockmap.UsedBlocks)
		}
		for _, e := range m.Extents {
			// Trust but check: the manifest must be valid whatever the map says.
			off, end := max(e.Off, 0), min(e.End(), p.Size)
			if end <= off {
				continue
			}
			if n := len(rp.Used); n > 0 && off <= rp.Used[n-1].End() {
				last := &rp.Used[n-1]
				last.Len = max(last.End(), end) - last.Off
				continue
			}
			rp.Used = append(rp.Used, repo.Extent{Off: off, Len: end - off})
		}
		rp.UsedBytes = repo.Size(rp.Used)
		rp.Zeroed = zeroedWithin(m.Zeroed, rp.Used)
		rp.Chunks = chunkList(rp.Used, cs)
		d.Partitions = append(d.Partitions, rp)
	}
	return d, warns, nil
}

// zeroedWithin returns the parts of a map's zeroed ranges that lie in
// used, sorted and merged: trust but check, as for the used extents, so
// that the manifest is valid whatever the map says.
func zeroedWithin(zeroed []blockmap.Extent, used []repo.Extent) []repo.Extent {
	z := make([]repo.Extent, 0, len(zeroed))
	for _, e := range zeroed {
		if e.Len > 0 {
			z = append(z, repo.Extent{Off: e.Off, Len: e.Len})
		}
	}
	slices.SortFunc(z, func(a, b repo.Extent) int { return cmp.Compare(a.Off, b.Off) })
	var merged []repo.Extent
	for _, e := range z {
		if n := len(merged); n > 0 && e.Off <= merged[n-1].End() {
			merged[n-1].Len = max(merged[n-1].End(), e.End()) - merged[n-1].Off
			continue
		}
		merged = append(merged, e)
	}
	var out []repo.Extent
	k := 0
	for _, e := range merged {
		for k < len(used) && used[k].End() <= e.Off {
			k++
		}
		for j := k; j < len(used) && used[j].Off < e.End(); j++ {
			s, end := max(e.Off, used[j].Off), min(e.End(), used[j].End())
			if s < end {
				out = append(out, repo.Extent{Off: s, Len: end - s})
			}
		}
	}
	return out
}

// rechunk cuts every area of img into chunks of cs bytes.
func rechunk(img *repo.Image, cs int) {
	img.ChunkSize = cs
	for i := range img.Disks {
		for _, a := range img.Disks[i].Areas() {
			a.Chunks = chunkList(a.Used, cs)
		}
	}
}

// chunkList lists the chunks of an area that overlap used, in order, with
// their IDs not yet known.
func chunkList(used []repo.Extent, cs int) []repo.ChunkRef {
	refs := []repo.ChunkRef{}
	last := int64(-1)
	for _, u := range used {
		first, final := u.Off/int64(cs), (u.End()-1)/int64(cs)
		for i := max(first, last+1); i <= final; i++ {
			refs = append(refs, repo.ChunkRef{I: i})
		}
		last = max(last, final)
	}
	return refs
}
