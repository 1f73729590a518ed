// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"github.com/rewind-backup/rewind/pkg/human"
)

// MaxHeadArea caps the head region: the bytes from sector 0 up to the first
// partition, where boot code lives (the MBR's, GRUB's core.img in the gap
// before a partition at 1 MiB). Bytes of a gap beyond 16 MiB are not captured.
// The table itself is always captured whole, whatever its size.
const MaxHeadArea = 16 << 20

// Region kinds.
const (
	// RegionHead: sector 0 up to the first partition (capped at MaxHeadArea,
	// never shorter than the MBR or the primary GPT header and entries).
	RegionHead = "head"
	// RegionGPTBackup: the backup GPT entries and header at the disk's end.
	RegionGPTBackup = "gpt-backup"
	// RegionEBR: one extended boot record sector (MBR logical partitions).
	RegionEBR = "ebr"
)

// Region is a byte range of a disk that belongs to its partition table or
// boot area and is stored verbatim. Partitions (including a BIOS-boot
// partition) are not regions: the capture engine images them.
type Region struct {
	Kind   string `json:"kind"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// SavedRegion is a Region with the bytes read from it.
type SavedRegion struct {
	Region
	Data []byte `json:"data"`
}

// Regions lists the byte ranges that hold the partition table and boot area,
// in ascending offset order. A disk without a table (Type "none") has none.
func (l *Layout) Regions() []Region {
	ss := int64(l.SectorSize)
	if l.Type == TypeNone || ss <= 0 || l.Size < ss {
		return nil
	}
	tableEnd := ss // the MBR
	gapEnd := l.firstStart()
	if l.Type == TypeGPT {
		es := entrySectors(l.NumEntries, l.EntrySize, l.SectorSize)
		tableEnd = (int64(l.EntriesLBA) + es) * ss
		if gapEnd < 0 {
			gapEnd = int64(l.FirstUsableLBA) * ss
		}
	}
	head := min(max(gapEnd, 0), MaxHeadArea)
	head = min(max(head, tableEnd), l.Size)
	regions := []Region{{Kind: RegionHead, Offset: 0, Length: head}}

	switch l.Type {
	case TypeMBR:
		for _, off := range l.EBRs {
			if off >= head {
				regions = append(regions, Region{Kind: RegionEBR, Offset: off, Length: ss})
			}
		}
	case TypeGPT:
		if !l.BackupValid {
			break
		}
		es := entrySectors(l.NumEntries, l.EntrySize, l.SectorSize)
		ent, hdr := int64(l.BackupEntriesLBA), int64(l.BackupLBA)
		if ent < hdr && ent+es <= hdr && hdr-ent <= es+64 {
			regions = append(regions, Region{Kind: RegionGPTBackup, Offset: ent * ss, Length: (hdr - ent + 1) * ss})
		} else {
			regions = append(regions,
				Region{Kind: RegionGPTBackup, Offset: ent * ss, Length: es * ss},
				Region{Kind: RegionGPTBackup, Offset: hdr * ss, Length: ss})
		}
	}
	// An extended chain may point backwards; keep the promised order.
	sort.SliceStable(regions, func(i, j int) bool { return regions[i].Offset < regions[j].Offset })
	return regions
}

func entrySectors(n, size uint32, ss int) int64 {
	return (int64(n)*int64(size) + int64(ss) - 1) / int64(ss)
}

// CaptureRegions reads every region of l from r.
func CaptureRegions(ctx context.Context, r io.ReaderAt, l *Layout) ([]SavedRegion, error) {
	var out []SavedRegion
	for _, reg := range l.Regions() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := make([]byte, reg.Length)
		if err := readFull(r, b, reg.Offset); err != nil {
			return nil, fmt.Errorf("capturing the %s region (%d bytes at %d): %w", reg.Kind, reg.Length, reg.Offset, err)
		}
		out = append(out, SavedRegion{Region: reg, Data: b})
	}
	return out, nil
}

// savedDisk is an in-memory disk of size bytes holding the saved regions and
// zeros elsewhere.
type savedDisk struct {
	size    int64
	regions []SavedRegion
}

func (d savedDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= d.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > d.size-off {
		n = int(d.size - off)
	}
	clear(p[:n])
	for _, r := range d.regions {
		lo, hi := max(off, r.Offset), min(off+int64(n), r.Offset+int64(len(r.Data)))
		if lo < hi {
			copy(p[lo-off:hi-off], r.Data[lo-r.Offset:hi-r.Offset])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// LayoutFromSaved parses the layout held by saved regions of a disk of size
// bytes and sectorSize: what the restore engine does with a manifest.
func LayoutFromSaved(saved []SavedRegion, size int64, sectorSize int) (*Layout, error) {
	for _, r := range saved {
		if int64(len(r.Data)) != r.Length || r.Offset < 0 || r.Offset > size-r.Length {
			return nil, fmt.Errorf("saved %s region at %d: %d bytes, length %d, disk %d bytes: %w",
				r.Kind, r.Offset, len(r.Data), r.Length, size, ErrMismatch)
		}
	}
	return ReadLayoutSectorSize(savedDisk{size: size, regions: saved}, size, sectorSize)
}

// MinTargetSize returns the smallest disk the layout can be written to: the
// end of its last partition, plus the backup GPT for a GPT.
func (l *Layout) MinTargetSize() int64 {
	ss := int64(l.SectorSize)
	need := l.lastEnd()
	for _, r := range l.Regions() {
		if r.Kind == RegionHead {
			need = max(need, r.Offset+r.Length)
		}
	}
	if l.Type == TypeGPT {
		need += (entrySectors(l.NumEntries, l.EntrySize, l.SectorSize) + 1) * ss
	}
	return need
}

// WriteTable writes a captured partition table and boot area (saved, from
// CaptureRegions on the disk l describes) to a target disk of target bytes.
//
// On a target of the captured size every saved byte is written back as it
// was (a GPT whose backup was damaged gets it rebuilt). On a larger or smaller
// target a GPT's backup entries and header move to the target's last
// sectors, both headers' AlternateLBA and LastUsableLBA follow (as `sgdisk
// -e` does) and their CRCs are recomputed; a pure protective MBR is stretched
// to the new size. Disk and partition GUIDs, names and attributes, the MBR
// boot code and disk signature stay as captured. An MBR table is written as
// captured, and a stale backup GPT header in the target's last sector, if
// that sector is free, is zeroed.
//
// A target smaller than MinTargetSize fails with ErrTooSmall before anything
// is written; so do saved regions that do not match l (ErrMismatch) and a
// block device whose logical sector size differs (ErrSectorSize, when w has
// SectorSize and IsBlock methods, as *Device has).
// WriteTable does not sync: call Sync and RereadPartitions afterwards.
func WriteTable(ctx context.Context, w io.WriterAt, target int64, saved []SavedRegion, l *Layout) error {
	if l == nil || l.Type == TypeNone {
		return fmt.Errorf("no partition table to write")
	}
	ss := int64(l.SectorSize)
	if ts := knownSectorSize(w); ts != 0 && ts != l.SectorSize {
		return fmt.Errorf("target has %d-byte sectors, the captured disk %d-byte sectors; a partition table cannot be moved between them: %w",
			ts, l.SectorSize, ErrSectorSize)
	}
	if l.SectorSize < 512 || l.SectorSize > 4096 || l.SectorSize&(l.SectorSize-1) != 0 {
		return fmt.Errorf("layout has an impossible sector size %d: %w", l.SectorSize, ErrMismatch)
	}
	got, err := LayoutFromSaved(saved, l.Size, l.SectorSize)
	if err != nil {
		return fmt.Errorf("reading the saved partition table: %w", err)
	}
	if err := sameTable(got, l); err != nil {
		return err
	}
	if err := sameRegions(saved, got.Regions()); err != nil {
		return err
	}
	if need := got.MinTargetSize(); target < need && target != l.Size {
		what := "target disk"
		if p, ok := w.(interface{ Path() string }); ok {
			what += " " + p.Path()
		}
		return fmt.Errorf("%s is %d bytes (%s) but the captured partitions need %d bytes (%s; the captured disk was %s): use a disk at least that large: %w",
			what, target, human.Bytes(target), need, human.Bytes(need), human.Bytes(l.Size), ErrTooSmall)
	}
	target = target / ss * ss

	var writes []SavedRegion
	switch got.Type {
	case TypeMBR:
		writes = append(writes, saved...)
		if last := target - ss; !got.covers(last, ss) && !overlapsSaved(saved, last, ss) {
			writes = append(writes, SavedRegion{Region: Region{Kind: "stale-gpt", Offset: last, Length: ss}, Data: make([]byte, ss)})
		}
	case TypeGPT:
		if target == l.Size && got.PrimaryValid && got.BackupValid {
			writes = append(writes, saved...)
			break
		}
		writes, err = got.moveGPT(saved, target)
		if err != nil {
			return err
		}
	}
	for _, r := range writes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.Offset+int64(len(r.Data)) > target {
			return fmt.Errorf("%s region (%d bytes at %d) does not fit a %d-byte target: %w", r.Kind, len(r.Data), r.Offset, target, ErrTooSmall)
		}
	}
	for _, r := range writes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := w.WriteAt(r.Data, r.Offset); err != nil {
			return fmt.Errorf("writing the %s region (%d bytes at offset %d): %w", r.Kind, len(r.Data), r.Offset, err)
		}
	}
	return nil
}

// moveGPT builds the head and backup regions of a GPT placed on a target of
// target bytes, from the header and entries the layout was parsed from.
func (l *Layout) moveGPT(saved []SavedRegion, target int64) ([]SavedRegion, error) {
	ss := int64(l.SectorSize)
	var head []byte
	for _, r := range saved {
		if r.Kind == RegionHead && r.Offset == 0 {
			head = bytes.Clone(r.Data)
		}
	}
	es := entrySectors(l.NumEntries, l.EntrySize, l.SectorSize)
	if l.gpt == nil || head == nil || int64(len(head)) < max(int64(l.EntriesLBA)+es, 2)*ss {
		return nil, fmt.Errorf("saved regions lack the GPT head area: %w", ErrMismatch)
	}
	h := l.gpt.header
	sectors := target / ss
	if sectors < 2*es+3 {
		return nil, fmt.Errorf("a %d-byte target cannot hold two GPT headers and entry arrays: %w", target, ErrTooSmall)
	}
	last := uint64(sectors - 1)
	backupEntries := last - uint64(es)
	lastUsable := h.lastUsableLBA
	if target != l.Size {
		lastUsable = backupEntries - 1
	}
	if h.firstUsableLBA > lastUsable+1 {
		return nil, fmt.Errorf("the GPT's first usable sector %d lies past the target's last usable sector %d: %w", h.firstUsableLBA, lastUsable, ErrTooSmall)
	}
	if end := uint64(l.lastEnd() / ss); end > 0 && end-1 > lastUsable {
		return nil, fmt.Errorf("partitions end at sector %d, past the last usable sector %d of the target: %w", end-1, lastUsable, ErrTooSmall)
	}
	if int64(backupEntries)*ss < int64(len(head)) {
		return nil, fmt.Errorf("the backup GPT at sector %d of the target would overlap the %d-byte head area: %w", backupEntries, len(head), ErrTooSmall)
	}
	primary := buildGPTHeader(h.raw, 1, last, lastUsable, l.EntriesLBA)
	backup := buildGPTHeader(h.raw, last, 1, lastUsable, backupEntries)

	copy(head[ss:2*ss], primary)
	copy(head[int64(l.EntriesLBA)*ss:], l.gpt.entries)
	if target != l.Size && !l.Hybrid {
		stretchProtective(head, uint64(l.Size/ss), uint64(sectors))
	}
	tail := make([]byte, (es+1)*ss)
	copy(tail, l.gpt.entries)
	copy(tail[es*ss:], backup)
	return []SavedRegion{
		{Region: Region{Kind: RegionHead, Offset: 0, Length: int64(len(head))}, Data: head},
		{Region: Region{Kind: RegionGPTBackup, Offset: int64(backupEntries) * ss, Length: int64(len(tail))}, Data: tail},
	}, nil
}

// stretchProtective resizes a protective MBR's 0xEE entry that covered the
// whole old disk so that it covers the whole new one.
func stretchProtective(mbr []byte, oldSectors, newSectors uint64) {
	cover := func(n uint64) uint32 { return uint32(min(n-1, 0xffffffff)) }
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i : 446+16*i+16]
		if e[4] != 0xee || binary.LittleEndian.Uint32(e[8:]) != 1 {
			continue
		}
		if binary.LittleEndian.Uint32(e[12:]) == cover(oldSectors) {
			binary.LittleEndian.PutUint32(e[12:], cover(newSectors))
		}
	}
}

// covers reports whether [off, off+n) overlaps a partition.
func (l *Layout) covers(off, n int64) bool {
	for _, p := range l.Partitions {
		if off < p.End() && p.Start < off+n {
			return true
		}
	}
	return false
}

// overlapsSaved reports whether [off, off+n) overlaps a saved region.
func overlapsSaved(saved []SavedRegion, off, n int64) bool {
	for _, r := range saved {
		if off < r.Offset+r.Length && r.Offset < off+n {
			return true
		}
	}
	return false
}

// sameRegions checks that saved holds exactly the regions of the layout
// parsed from it, so that nothing else gets written.
func sameRegions(saved []SavedRegion, want []Region) error {
	if len(saved) != len(want) {
		return fmt.Errorf("%d saved regions, the saved table has %d: %w", len(saved), len(want), ErrMismatch)
	}
	for i, r := range saved {
		if r.Region != want[i] {
			return fmt.Errorf("saved region %+v, the saved table's is %+v: %w", r.Region, want[i], ErrMismatch)
		}
	}
	return nil
}

// sameTable checks that the table parsed from saved bytes is the one the
// layout describes.
func sameTable(got, want *Layout) error {
	if got.Type != want.Type || got.DiskGUID != want.DiskGUID || got.Signature != want.Signature ||
		len(got.Partitions) != len(want.Partitions) {
		return fmt.Errorf("saved table is %s disk %s/%08x with %d partitions, layout says %s disk %s/%08x with %d: %w",
			got.Type, got.DiskGUID, got.Signature, len(got.Partitions), want.Type, want.DiskGUID, want.Signature, len(want.Partitions), ErrMismatch)
	}
	for i, g := range got.Partitions {
		w := want.Partitions[i]
		if g != w {
			return fmt.Errorf("saved table's partition %d (%+v) differs from the layout's (%+v): %w", g.Index, g, w, ErrMismatch)
		}
	}
	return nil
}
