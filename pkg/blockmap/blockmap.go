// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package blockmap finds the blocks of a partition that hold data, by reading
// each filesystem's own allocation metadata: the block bitmaps of ext2/3/4,
// the $Bitmap of NTFS and the allocation table of FAT12/16/32. Anything it
// does not understand is imaged raw, and the Summary says why; Linux swap
// keeps only its header page.
//
// Only metadata is read: a few megabytes for a filesystem of hundreds of
// gigabytes. The package is pure Go, so that it runs in the initramfs.
package blockmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Extent is a byte range of a partition: Len bytes from offset Off, counted
// from the start of the partition.
type Extent struct {
	Off int64 `json:"off"`
	Len int64 `json:"len"`
}

// End returns the offset just past the extent.
func (e Extent) End() int64 { return e.Off + e.Len }

// Mode says how a partition is imaged.
type Mode string

const (
	// UsedBlocks images only the extents the filesystem has allocated.
	UsedBlocks Mode = "used-blocks"
	// Raw images the whole partition; Summary.Reason says why.
	Raw Mode = "raw"
	// HeaderOnly images only the header page of Linux swap; the rest is
	// restored as zeros, which is what mkswap leaves.
	HeaderOnly Mode = "header-only"
)

// Summary describes a partition's filesystem and how it is imaged.
type Summary struct {
	// FS names the filesystem: "ext4", "ext3", "ext2", "ntfs", "fat12",
	// "fat16", "fat32", "swap", "luks", "bitlocker", "xfs", "btrfs",
	// "exfat", or "" when it was not recognised.
	FS    string `json:"fs"`
	Label string `json:"label,omitempty"`
	UUID  string `json:"uuid,omitempty"`
	// BlockSize is the allocation unit in bytes (ext block, NTFS or FAT
	// cluster); 0 when unknown.
	BlockSize int64 `json:"block_size"`
	// Total is the size of the filesystem in bytes (the partition size when
	// the filesystem is unknown); Used the bytes Extents cover.
	Total int64 `json:"total"`
	Used  int64 `json:"used"`
	// ZeroedBytes is the bytes Map.Zeroed covers, a part of Used.
	ZeroedBytes int64 `json:"zeroed_bytes,omitempty"`
	// Clean is false when the filesystem says it was not shut down cleanly
	// or needs a check. For unknown filesystems it is true.
	Clean bool `json:"clean"`
	Mode  Mode `json:"mode"`
	// Reason explains, for a person, why Mode is Raw (or anything else
	// worth knowing about the mapping); empty when there is nothing to say.
	Reason string `json:"reason,omitempty"`
}

// Map is a partition's used extents and its summary.
type Map struct {
	Summary `json:"summary"`
	// Extents are sorted by offset, do not overlap nor touch each other, and
	// lie within [0, size) of the partition given to Read.
	Extents []Extent `json:"extents"`
	// Zeroed are parts of Extents whose content no system will read and
	// that must not survive on a restored disk: the log of a cleanly
	// unmounted ext3/4's journal (everything after its superblock), whose
	// old transactions a later recovery could otherwise replay. An image
	// records them as zeros, without reading them, and a restore writes
	// zeros there. Sorted, not overlapping, each inside one extent.
	Zeroed []Extent `json:"zeroed,omitempty"`
}

// Options changes how Read treats a filesystem.
type Options struct {
	// Force maps a filesystem that Read would otherwise refuse: an NTFS
	// volume marked dirty, hibernated or with an unclean $LogFile, or an
	// ext3/4 whose journal needs recovery. What such a map leaves out may
	// be needed to repair the filesystem, so imaging raw is the safer
	// choice when in doubt.
	Force bool
}

var (
	// ErrCorrupt is wrapped by errors from Read when a filesystem was
	// recognised but its metadata is inconsistent. Imaging the partition
	// raw is the way around it.
	ErrCorrupt = errors.New("filesystem metadata is damaged")
	// ErrUnclean is wrapped by errors from Read when a filesystem was not
	// shut down cleanly and its allocation metadata cannot be trusted
	// (see Options.Force).
	ErrUnclean = errors.New("filesystem was not shut down cleanly")
)

// FSError is an error of Read about a filesystem it recognised but could
// not map (it wraps ErrCorrupt or ErrUnclean). Summary says what was
// recognised: FS always, Label and UUID as far as they could be read, so
// that a partition imaged raw instead still says what it holds.
type FSError struct {
	Summary Summary
	Err     error
}

func (e *FSError) Error() string { return e.Err.Error() }
func (e *FSError) Unwrap() error { return e.Err }

// recognised wraps a damage or repair error of a filesystem Read
// recognised (s) in an FSError; other errors (I/O, ctx) are returned as
// they are.
func recognised(m *Map, err error, s Summary) (*Map, error) {
	if err != nil && (errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnclean)) {
		var fe *FSError
		if !errors.As(err, &fe) {
			err = &FSError{Summary: s, Err: err}
		}
	}
	return m, err
}

// Read detects the filesystem on a partition of size bytes read through r,
// and returns the extents that hold data. r must not change while Read runs;
// Read issues only ReadAt calls, none past size, and may be called
// concurrently on different partitions.
//
// A filesystem Read does not know, or knows but does not map (encrypted
// volumes, XFS, btrfs, exFAT, ext4 with bigalloc), is returned in Raw mode
// with one extent covering the partition, not as an error. Errors wrap
// ErrCorrupt for damaged metadata of a recognised filesystem, ErrUnclean for
// one that needs repair first, an I/O error from r, or ctx.Err().
func Read(ctx context.Context, r io.ReaderAt, size int64, opt Options) (*Map, error) {
	if size < 0 {
		return nil, fmt.Errorf("blockmap: negative partition size %d", size)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The first 64 KiB (plus btrfs's superblock at 64 KiB) hold every
	// signature this package looks for.
	head, err := readHead(r, size)
	if err != nil {
		return nil, fmt.Errorf("reading the start of the partition: %w", err)
	}
	switch {
	case isEncrypted(head):
		// Checked first: stale metadata of an earlier filesystem may
		// survive beside an encryption header, and must not be
		// mistaken for the live one.
		return rawMap(size, identifyOther(head))
	case isExt(head) && (isNTFS(head) || isFAT(head)):
		// Two live-looking filesystems: a leftover of one beside the
		// other. Mapping the wrong one would lose data (blkid calls
		// this "ambivalent" and refuses too).
		return rawMap(size, Summary{Clean: true, Reason: "both an ext superblock and an NTFS/FAT boot sector were found (a leftover of an earlier filesystem), so every block is imaged; wipe the stale signature with wipefs to map it"})
	case isExt(head):
		m, err := readExt(ctx, r, size, head, opt)
		return recognised(m, err, extSummary(head))
	case isNTFS(head):
		m, err := readNTFS(ctx, r, size, head, opt)
		return recognised(m, err, Summary{FS: "ntfs", UUID: ntfsSerial(head)})
	case isFAT(head):
		m, err := readFAT(ctx, r, size, head)
		return recognised(m, err, fatSummary(head))
	case isSwap(head) != 0:
		return readSwap(head, size)
	}
	return rawMap(size, identifyOther(head))
}

// headSize is how much of the partition Read looks at to detect it.
const headSize = 0x10040 + 4096

func readHead(r io.ReaderAt, size int64) ([]byte, error) {
	n := int64(headSize)
	if size < n {
		n = size
	}
	b := make([]byte, headSize)
	if _, err := readFull(r, b[:n], 0); err != nil {
		return nil, err
	}
	return b, nil
}

// readFull reads len(b) bytes at off; a short read is an error.
func readFull(r io.ReaderAt, b []byte, off int64) (int, error) {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = fmt.Errorf("short read of %d bytes at offset %d: %w", len(b), off, io.ErrUnexpectedEOF)
	}
	return n, err
}

// rawMap returns the map of a partition imaged whole.
func rawMap(size int64, s Summary) (*Map, error) {
	s.Mode = Raw
	s.Total = size
	s.Used = size
	m := &Map{Summary: s}
	if size > 0 {
		m.Extents = []Extent{{0, size}}
	}
	return m, nil
}

// within returns the parts of sorted, non-overlapping ranges ext that lie
// inside the sorted, merged extents in, and the bytes they cover.
func within(ext, in []Extent) ([]Extent, int64) {
	var out []Extent
	var sum int64
	k := 0
	for _, e := range ext {
		for k < len(in) && in[k].End() <= e.Off {
			k++
		}
		for j := k; j < len(in) && in[j].Off < e.End(); j++ {
			s, end := max(e.Off, in[j].Off), min(e.End(), in[j].End())
			if s < end {
				out = append(out, Extent{s, end - s})
				sum += end - s
			}
		}
	}
	return out, sum
}

// extents collects byte ranges in any order and yields them sorted and
// merged. Adding ranges in ascending order, as bitmap scans do, merges as
// it goes and keeps memory at one entry per run.
//
// A badly fragmented (or hostile) filesystem could need more entries than
// is reasonable to hold; past maxExtents, free gaps shorter than a growing
// threshold are counted as used, which keeps the map correct (a superset)
// and its memory bounded whatever the metadata says.
type extents struct {
	list   []Extent
	sorted bool
	limit  int64 // ranges are clipped to [0, limit)
	gap    int64 // free gaps shorter than this are merged over
	max    int   // compact when the list grows past this
}

// maxExtents bounds the memory of a map to 16 MiB of extents.
const maxExtents = 1 << 20

func newExtents(limit int64) *extents {
	return &extents{sorted: true, limit: limit, max: maxExtents}
}

func (x *extents) add(off, n int64) {
	if n <= 0 || off >= x.limit || off < 0 {
		return
	}
	if n > x.limit-off {
		n = x.limit - off
	}
	if k := len(x.list); k > 0 {
		last := &x.list[k-1]
		if off >= last.Off && off <= last.End()+x.gap {
			if e := off + n; e > last.End() {
				last.Len = e - last.Off
			}
			return
		}
		if off < last.Off {
			x.sorted = false
		}
	}
	x.list = append(x.list, Extent{off, n})
	if len(x.list) > x.max {
		x.compact()
	}
}

// compact sorts the list and merges over ever larger gaps until it holds
// at most half of max entries.
func (x *extents) compact() {
	if x.gap == 0 {
		x.gap = 64 << 10
	}
	for {
		x.list = merge(x.list, x.sorted, x.gap)
		x.sorted = true
		if len(x.list) <= x.max/2 {
			return
		}
		x.gap *= 2
	}
}

// coarse reports whether free gaps were merged over to bound memory.
func (x *extents) coarse() bool { return x.gap > 0 }

// result sorts and merges the collected ranges and returns them with the
// number of bytes they cover.
func (x *extents) result() ([]Extent, int64) {
	out := merge(x.list, x.sorted, x.gap)
	x.list, x.sorted = out, true
	var used int64
	for _, e := range out {
		used += e.Len
	}
	return out, used
}

// merge sorts l (unless it is already sorted) and merges, in place, the
// extents that overlap or lie less than gap bytes apart.
func merge(l []Extent, sorted bool, gap int64) []Extent {
	if !sorted {
		sort.Slice(l, func(i, j int) bool { return l[i].Off < l[j].Off })
	}
	out := l[:0]
	for _, e := range l {
		if k := len(out); k > 0 && e.Off <= out[k-1].End()+gap {
			if e.End() > out[k-1].End() {
				out[k-1].Len = e.End() - out[k-1].Off
			}
			continue
		}
		out = append(out, e)
	}
	return out
}

// addBitmapRuns adds to x the runs of set bits among the first nbits bits
// of bm (least significant bit first, as ext4 and NTFS store them), bit i
// standing for the unit bytes at origin + (first+i)*unit.
func addBitmapRuns(x *extents, bm []byte, nbits, first, unit, origin int64) {
	if max := int64(len(bm)) * 8; nbits > max {
		nbits = max
	}
	bit := func(i int64) bool { return bm[i>>3]&(1<<(i&7)) != 0 }
	i := int64(0)
	for i < nbits {
		for i < nbits && !bit(i) {
			if i&7 == 0 && i+8 <= nbits && bm[i>>3] == 0 {
				i += 8
				continue
			}
			i++
		}
		start := i
		for i < nbits && bit(i) {
			if i&7 == 0 && i+8 <= nbits && bm[i>>3] == 0xff {
				i += 8
				continue
			}
			i++
		}
		if i > start {
			x.add(origin+(first+start)*unit, (i-start)*unit)
		}
	}
}
