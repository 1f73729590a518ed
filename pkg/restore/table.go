// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"context"
	"errors"
	"fmt"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// table is a captured disk's partition table, ready to be written.
type table struct {
	saved  []disk.SavedRegion
	layout *disk.Layout // nil for a disk without a table
	// need is the smallest target that holds the disk's partitions.
	need int64
}

// maxBootBytes bounds a disk's boot areas: a capture stores the head area
// (at most disk.MaxHeadArea), a GPT's backup (at most 1 MiB of entries and
// a header) and the EBRs (a sector each, at most 252), well under twice
// the head.
const maxBootBytes = 2 * disk.MaxHeadArea

// loadTable reads a disk's boot areas from the repository and parses the
// partition table they hold, checking it against the manifest.
func loadTable(ctx context.Context, r *repo.Repository, img *repo.Image, d *repo.Disk) (*table, error) {
	cs := img.ChunkSize
	tb := &table{need: d.PartitionAreas().End()}
	// Each boot area is read whole into memory: refuse a manifest that
	// claims more than a capture ever stores before allocating it.
	var boot int64
	for _, a := range d.Boot {
		if a.Length > maxBootBytes-boot {
			return nil, fmt.Errorf("the manifest's boot areas add up to more than %d bytes, more than a capture stores (at disk offset %d: %d bytes): the image is damaged: %w",
				maxBootBytes, a.Offset, a.Length, disk.ErrMismatch)
		}
		boot += a.Length
	}
	for _, a := range d.Boot {
		data := make([]byte, a.Length)
		for _, c := range a.Chunks {
			rng := a.Range(c.I, cs)
			if c.Zero {
				continue
			}
			p, err := r.LoadRef(ctx, img, c, nil)
			if errors.Is(err, chunk.ErrCorrupt) {
				return nil, fmt.Errorf("the partition table's chunk at disk offset %d: %w; the repository is damaged: run 'rewind check --read-data' on it to find every damaged chunk, and restore an older image", a.Offset+rng.Off, err)
			}
			if err != nil {
				return nil, fmt.Errorf("the partition table's chunk at disk offset %d: %w", a.Offset+rng.Off, err)
			}
			if int64(len(p)) != rng.Len {
				return nil, fmt.Errorf("the partition table's chunk %s at disk offset %d holds %d bytes, want %d", c.ID, a.Offset+rng.Off, len(p), rng.Len)
			}
			// Boot areas are used whole, but mask anyway: the manifest rules.
			for _, m := range a.Masked(rng) {
				copy(data[rng.Off+m.Off:rng.Off+m.End()], p[m.Off:m.End()])
			}
		}
		kind := disk.RegionEBR
		switch {
		case a.Offset == 0:
			kind = disk.RegionHead
		case d.Table == disk.TypeGPT:
			kind = disk.RegionGPTBackup
		}
		tb.saved = append(tb.saved, disk.SavedRegion{
			Region: disk.Region{Kind: kind, Offset: a.Offset, Length: a.Length},
			Data:   data,
		})
	}
	if d.Table == disk.TypeNone || d.Table == "" {
		return tb, nil
	}
	l, err := disk.LayoutFromSaved(tb.saved, d.Size, d.SectorSize)
	if err != nil {
		return nil, fmt.Errorf("reading the captured partition table: %w", err)
	}
	if l.Type != d.Table {
		return nil, fmt.Errorf("the captured table reads as %s, the manifest says %s: %w", l.Type, d.Table, disk.ErrMismatch)
	}
	if err := sameLayout(l, d); err != nil {
		return nil, fmt.Errorf("the captured table: %w", err)
	}
	tb.layout = l
	tb.need = max(tb.need, l.MinTargetSize())
	return tb, nil
}

// fits checks that t can take disk d.
func (tb *table) fits(t Target, d *repo.Disk) error {
	size := t.Size()
	if size < tb.need && size != d.Size {
		return fmt.Errorf("the disk is %s but the image's partitions need %s (the captured disk was %s): restore onto a disk at least that large: %w",
			bytesExact(size), bytesExact(tb.need), bytesExact(d.Size), ErrTooSmall)
	}
	if ss, ok := t.(interface{ SectorSize() int }); ok && tb.layout != nil && ss.SectorSize() != d.SectorSize {
		return fmt.Errorf("the disk has %d-byte sectors, the captured disk had %d-byte sectors; its partition table cannot be moved between them: %w",
			ss.SectorSize(), d.SectorSize, disk.ErrSectorSize)
	}
	return nil
}

// sameLayout checks that layout l holds every partition the manifest names,
// at the same place, with the same type and GUID.
func sameLayout(l *disk.Layout, d *repo.Disk) error {
	if l.Type != d.Table || l.DiskGUID != d.DiskGUID || l.Signature != d.Signature {
		return fmt.Errorf("partition table is %s, disk GUID %q, signature %08x; the image has %s, %q, %08x: %w",
			l.Type, l.DiskGUID, l.Signature, d.Table, d.DiskGUID, d.Signature, ErrMismatch)
	}
	for _, p := range d.Partitions {
		if p.Index == 0 && d.Table == disk.TypeNone {
			continue
		}
		var found *disk.Partition
		for i := range l.Partitions {
			if l.Partitions[i].Index == p.Index {
				found = &l.Partitions[i]
			}
		}
		switch {
		case found == nil:
			return fmt.Errorf("partition %d of the image is missing from the table: %w", p.Index, ErrMismatch)
		case found.Start != p.Offset || found.Size != p.Length || found.Type != p.Type || found.GUID != p.GUID:
			return fmt.Errorf("partition %d is %d bytes at %d (type %s, GUID %s); the image has %d bytes at %d (type %s, GUID %s): %w",
				p.Index, found.Size, found.Start, found.Type, found.GUID, p.Length, p.Offset, p.Type, p.GUID, ErrMismatch)
		}
	}
	return nil
}

// bytesExact formats a byte count for refusals, where the exact figure
// matters: "20.0 MiB (20971520 bytes)".
func bytesExact(n int64) string {
	return fmt.Sprintf("%s (%d bytes)", human.Bytes(n), n)
}
