// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package disk reads and writes partition tables (GPT, MBR with logical
// partitions) exactly, opens disks and disk image files, and decides whether
// a disk may be written to.
//
// Everything read from a disk is treated as untrusted: the parsers bound
// their allocations and return errors, never panic.
//
// Capture:
//
//	d, _ := disk.Open(path)
//	l, _ := disk.ReadLayout(d, d.Size())
//	saved, _ := disk.CaptureRegions(ctx, d, l) // table + boot area bytes, verbatim
//	// store l (JSON) and saved; image every partition except Extended ones
//
// Restore:
//
//	disk.CheckWritable(path, bootMedium)        // refuses busy, boot and root disks, partitions
//	w, _ := disk.OpenWrite(path)
//	disk.WriteTable(ctx, w, w.Size(), saved, l) // ErrTooSmall before anything is written
//	// write the partitions' data, then
//	w.Sync(); w.RereadPartitions(ctx)
//
// A disk without a partition table (Layout.Type "none") has no regions: the
// engine decides how to image it as a whole.
package disk

import (
	"errors"
	"fmt"
	"io"
	"sort"
)

// Errors returned (wrapped) by this package; test with errors.Is.
var (
	// ErrTooSmall: the target disk cannot hold the captured partitions.
	ErrTooSmall = errors.New("target disk too small")
	// ErrCorrupt: a partition table is present but cannot be parsed.
	ErrCorrupt = errors.New("corrupt partition table")
	// ErrMismatch: the saved table bytes do not match the layout they came with.
	ErrMismatch = errors.New("saved partition table does not match its layout")
	// ErrSectorSize: the target's logical sector size differs from the captured disk's.
	ErrSectorSize = errors.New("sector size differs")
	// ErrRefused: CheckWritable refuses the disk; the message says why.
	ErrRefused = errors.New("refusing to write")
	// ErrBootMedium: the disk is the one the boot environment or the running
	// system started from (with ErrRefused from CheckWritable).
	ErrBootMedium = errors.New("the disk the system runs from")
	// ErrInUse: the disk, a partition of it or a device built on it is
	// mounted or in use as swap (with ErrRefused from CheckWritable; alone
	// from CheckCapturable).
	ErrInUse = errors.New("disk in use")
)

// Table types in Layout.Type.
const (
	TypeGPT  = "gpt"
	TypeMBR  = "mbr"
	TypeNone = "none"
)

// Layout is a disk's partition table as read by ReadLayout.
type Layout struct {
	Type       string `json:"type"` // "gpt", "mbr" or "none"
	SectorSize int    `json:"sector_size"`
	Size       int64  `json:"size"`                // bytes
	DiskGUID   string `json:"disk_guid,omitempty"` // GPT only, upper case
	Signature  uint32 `json:"signature"`           // MBR disk signature (bytes 440..443), also kept on GPT disks
	// Hybrid: a GPT disk whose MBR holds entries besides the 0xEE one.
	Hybrid     bool        `json:"hybrid,omitempty"`
	Partitions []Partition `json:"partitions"`

	// GPT header fields (in sectors), from the header that was used.
	FirstUsableLBA uint64 `json:"first_usable_lba,omitempty"`
	LastUsableLBA  uint64 `json:"last_usable_lba,omitempty"`
	AlternateLBA   uint64 `json:"alternate_lba,omitempty"` // as stored in the primary header
	EntriesLBA     uint64 `json:"entries_lba,omitempty"`   // primary entry array
	NumEntries     uint32 `json:"num_entries,omitempty"`
	EntrySize      uint32 `json:"entry_size,omitempty"`
	// BackupEntriesLBA and BackupLBA locate the backup entry array and header
	// (BackupLBA is 0 when no valid backup header was found).
	BackupEntriesLBA uint64 `json:"backup_entries_lba,omitempty"`
	BackupLBA        uint64 `json:"backup_lba,omitempty"`
	// PrimaryValid and BackupValid: each GPT header and its entries passed their CRCs.
	PrimaryValid bool `json:"primary_valid,omitempty"`
	BackupValid  bool `json:"backup_valid,omitempty"`

	// EBRs holds the byte offsets of every extended boot record (MBR only).
	EBRs []int64 `json:"ebrs,omitempty"`

	// Warnings: problems that did not stop the parse (a damaged primary GPT
	// header, a cut extended chain), for the technician to read.
	Warnings []string `json:"warnings,omitempty"`

	gpt *gptRaw // the header and entries used, when parsed from bytes
}

// Partition is one entry of a partition table.
type Partition struct {
	Index      int    `json:"index"` // 1-based, as the kernel numbers it: sda5 is the first logical
	Start      int64  `json:"start"` // bytes
	Size       int64  `json:"size"`  // bytes
	Type       string `json:"type"`  // GPT type GUID, or MBR type as "0x83"
	TypeName   string `json:"type_name,omitempty"`
	GUID       string `json:"guid,omitempty"` // GPT unique partition GUID
	Name       string `json:"name,omitempty"` // GPT partition name
	Attributes uint64 `json:"attributes,omitempty"`
	Bootable   bool   `json:"bootable,omitempty"` // MBR active flag (0x80)
	Logical    bool   `json:"logical,omitempty"`
	// Extended marks the MBR extended container. It spans the logical
	// partitions and must not be imaged as a partition of its own.
	Extended bool `json:"extended,omitempty"`
}

// End returns the byte offset just past the partition.
func (p Partition) End() int64 { return p.Start + p.Size }

// sectorSizer is implemented by devices that know their logical sector size
// (*Device does).
type sectorSizer interface{ SectorSize() int }

// knownSectorSize returns the logical sector size x reports, or 0 when it
// reports none or is an image file (whose "sector size" is whatever its
// partition table was made with).
func knownSectorSize(x any) int {
	if b, ok := x.(interface{ IsBlock() bool }); ok && !b.IsBlock() {
		return 0
	}
	if s, ok := x.(sectorSizer); ok {
		return s.SectorSize()
	}
	return 0
}

// ReadLayout reads the partition table of a disk of size bytes.
//
// The sector size is r's SectorSize() when r has that method and is a block
// device (a *Device on a disk), else 512, except that a GPT header is also
// looked for at byte 4096, so that images of 4Kn disks are recognised. A
// disk with neither table has Type "none" and no error. A damaged primary
// GPT falls back to the backup, with a warning in Layout.Warnings.
func ReadLayout(r io.ReaderAt, size int64) (*Layout, error) {
	return ReadLayoutSectorSize(r, size, knownSectorSize(r))
}

// ReadLayoutSectorSize is ReadLayout with an explicit logical sector size
// (512 or 4096; 0 means: 512, or 4096 when a GPT header is found there).
func ReadLayoutSectorSize(r io.ReaderAt, size int64, sectorSize int) (*Layout, error) {
	switch sectorSize {
	case 0, 512, 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("sector size %d is not supported (want 512..4096, a power of two)", sectorSize)
	}
	if size < 512 {
		return nil, fmt.Errorf("disk of %d bytes is too small to hold a partition table: %w", size, ErrCorrupt)
	}
	mbr := make([]byte, 512)
	if err := readFull(r, mbr, 0); err != nil {
		return nil, fmt.Errorf("reading sector 0: %w", err)
	}
	m := parseMBRSector(mbr)

	// Which sector size holds a GPT header?
	candidates := []int{sectorSize}
	if sectorSize == 0 {
		candidates = []int{512, 4096}
	}
	for _, ss := range candidates {
		if int64(2*ss) > size {
			continue
		}
		if !m.valid || m.hasProtective() {
			l, err := readGPT(r, size, ss, m)
			if err == nil {
				return l, nil
			}
			if !errors.Is(err, errNoGPT) {
				return nil, err
			}
		}
	}
	if sectorSize == 0 {
		sectorSize = 512
	}
	if m.isTable() && !m.hasProtective() && !m.empty() {
		return readMBR(r, size, sectorSize, m)
	}
	if m.valid && m.hasProtective() {
		return nil, fmt.Errorf("the MBR announces a GPT (type 0xEE) but no valid GPT header was found, neither primary nor backup: %w", ErrCorrupt)
	}
	// No table: a disk signature in sector 0 means nothing then, and no
	// region of a table is kept that could carry it (FuzzLayoutFromSaved
	// found a layout that read differently once captured again).
	return &Layout{Type: TypeNone, SectorSize: sectorSize, Size: size, Partitions: []Partition{}}, nil
}

// readFull reads len(b) bytes at off; a short read is an error.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading %d bytes at offset %d: %w", len(b), off, err)
}

// lastEnd returns the end (bytes) of the partition that ends last.
func (l *Layout) lastEnd() int64 {
	var end int64
	for _, p := range l.Partitions {
		if e := p.End(); e > end {
			end = e
		}
	}
	return end
}

// firstStart returns the start (bytes) of the partition that starts first, or
// -1 if there is none.
func (l *Layout) firstStart() int64 {
	first := int64(-1)
	for _, p := range l.Partitions {
		if p.Size > 0 && (first < 0 || p.Start < first) {
			first = p.Start
		}
	}
	return first
}

// maxOverlapWarnings bounds the warnings a table of many overlapping
// entries gives.
const maxOverlapWarnings = 8

// overlapWarnings says which partitions share sectors. A table like that
// is unusual (a hand edit, a tool's bug, a recovery) but not refused: the
// capture images each partition whole and the restore puts the table back
// exactly as it was; the technician should know, and check it. The MBR's
// extended container, which holds its logical partitions, is left out.
func overlapWarnings(parts []Partition, ss int) []string {
	var ps []Partition
	for _, p := range parts {
		if !p.Extended && p.Size > 0 {
			ps = append(ps, p)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Start < ps[j].Start })
	var warns []string
	more := 0
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			if b.Start >= a.End() {
				break // sorted by start: no later one reaches back into a
			}
			if len(warns) == maxOverlapWarnings {
				more++
				continue
			}
			lo, hi := b.Start, min(a.End(), b.End())
			x, y := min(a.Index, b.Index), max(a.Index, b.Index)
			warns = append(warns, fmt.Sprintf("partitions %d and %d overlap (sectors %d..%d, %d bytes); they are imaged and restored exactly as the table says, but check the table with a partitioning tool (sfdisk -V, gdisk's verify)",
				x, y, lo/int64(ss), hi/int64(ss)-1, hi-lo))
		}
	}
	if more > 0 {
		warns = append(warns, fmt.Sprintf("%d more pairs of partitions overlap", more))
	}
	return warns
}
