// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/rewind-backup/rewind/pkg/chunk"
)

// Image is the manifest of a disk-image snapshot: every disk's layout and,
// per partition, its used blocks as chunks.
type Image struct {
	// ChunkSize is the size of the fixed chunks every Area is cut into.
	ChunkSize int    `json:"chunk_size"`
	Disks     []Disk `json:"disks"`
	// Stats are what the capture counted; images written without them
	// leave it nil.
	Stats *ImageStats `json:"stats,omitempty"`
	// Packs names the packs that hold the image's chunks and chunk lists
	// (format 2); ChunkRef.Pack and ListRef.Pack count from 1 into it.
	Packs []chunk.ID `json:"packs,omitempty"`
	// Lists are the blobs that hold the areas' chunk lists (format 2),
	// in order; the areas' Chunks are then not in the snapshot's JSON.
	Lists []ListRef `json:"lists,omitempty"`
}

// ImageStats are a capture's byte counts, for listings of images.
type ImageStats struct {
	ReadBytes int64 `json:"read_bytes"` // bytes read from the disks
	// StoredBytes is the size as stored of the distinct chunks the image
	// names, whether this capture stored them or an earlier one did.
	StoredBytes int64 `json:"stored_bytes"`
	// NewBytes and NewChunks count what this capture added to the
	// repository (as stored).
	NewBytes  int64 `json:"new_bytes"`
	NewChunks int64 `json:"new_chunks"`
}

// Disk is one captured disk.
type Disk struct {
	Name       string `json:"name"` // kernel name or image file name at capture
	Model      string `json:"model,omitempty"`
	Serial     string `json:"serial,omitempty"`
	Size       int64  `json:"size"` // bytes
	SectorSize int    `json:"sector_size"`
	// Table is "gpt", "mbr" or "none".
	Table     string `json:"table"`
	DiskGUID  string `json:"disk_guid,omitempty"`
	Signature uint32 `json:"mbr_signature,omitempty"`
	// Boot holds the disk's own bytes outside partitions, verbatim: the
	// partition tables (protective MBR, GPT headers and entries, EBRs), boot
	// code and the gap before the first partition where boot loaders live.
	Boot       []Area      `json:"boot"`
	Partitions []Partition `json:"partitions"`
}

// Partition is one captured partition.
type Partition struct {
	Index    int    `json:"index"` // as the kernel numbers it: 1 is sda1
	Type     string `json:"type"`  // GPT type GUID, or MBR type like "0x83"
	TypeName string `json:"type_name,omitempty"`
	GUID     string `json:"guid,omitempty"`
	Name     string `json:"name,omitempty"`
	FS       string `json:"fs,omitempty"` // filesystem found: "ext4", "ntfs", "vfat", "swap", ...
	Label    string `json:"label,omitempty"`
	UUID     string `json:"uuid,omitempty"`
	// Mode is how it was imaged: "used-blocks", "raw" or "header-only"; Reason
	// says why when it is not used-blocks.
	Mode   string `json:"mode"`
	Reason string `json:"reason,omitempty"`
	Area
}

// Area is a range of a disk stored as chunks. The range is cut into chunks
// of the image's ChunkSize at fixed offsets from Offset; chunk i covers
// [i*ChunkSize, min((i+1)*ChunkSize, Length)) of the area. A chunk's
// plaintext is that range as it was on disk with every byte outside Used set
// to zero. Only chunks that overlap Used are listed.
type Area struct {
	Offset int64 `json:"offset"` // from the start of the disk, bytes
	Length int64 `json:"length"`
	// Used lists the byte ranges that hold data, relative to Offset, sorted
	// and not overlapping. Only they are restored; the rest of the area is
	// left as the target had it.
	Used []Extent `json:"used"`
	// UsedBytes is the sum of Used's lengths.
	UsedBytes int64 `json:"used_bytes"`
	// Zeroed lists parts of Used (relative to Offset, sorted, not
	// overlapping, each inside one Used extent) that the image records
	// as zeros whatever the disk held there: data no system reads and
	// that must not survive a restore, such as the log of a cleanly
	// unmounted ext3/4 journal, whose stale transactions a later recovery
	// could replay. A capture does not read them, so the chunks' plaintext
	// holds zeros there (a chunk inside them is a zero chunk, stored
	// nowhere); a restore writes and checks them like any used bytes. A
	// reader that does not know the field restores the same.
	Zeroed []Extent   `json:"zeroed,omitempty"`
	Chunks []ChunkRef `json:"chunks"`
}

// Extent is a byte range.
type Extent struct {
	Off int64 `json:"off"`
	Len int64 `json:"len"`
}

// End returns the offset just after the extent.
func (e Extent) End() int64 { return e.Off + e.Len }

// Coalesce returns the sorted extents ext with those less than gap apart
// joined, so that one large read or write replaces several small ones.
func Coalesce(ext []Extent, gap int64) []Extent {
	var out []Extent
	for _, e := range ext {
		if k := len(out); k > 0 && e.Off-out[k-1].End() < gap {
			out[k-1].Len = e.End() - out[k-1].Off
			continue
		}
		out = append(out, e)
	}
	return out
}

// ChunkRef places chunk ID at index I of an area. A Zero chunk is all zero
// bytes: it is not stored, and its ID is the hash of that many zero bytes.
//
// In format 2 a chunk that is not zero also says where it lies: in pack
// number Pack (from 1) of the image's Packs, Len bytes at Off. That is a
// hint, checked by the chunk's ID on every read; when a prune has moved the
// chunk, a restore finds it through the index files.
type ChunkRef struct {
	I    int64    `json:"i"`
	ID   chunk.ID `json:"id"`
	Zero bool     `json:"zero,omitempty"`
	Pack int32    `json:"p,omitempty"`
	Off  uint32   `json:"o,omitempty"`
	Len  uint32   `json:"n,omitempty"`
}

// checkLoc checks a chunk's place in an image of packs packs: every
// chunk that is not zero has one in format 2, none has one in format 1.
func (c ChunkRef) checkLoc(cs, packs int) error {
	switch {
	case packs == 0 && (c.Pack != 0 || c.Off != 0 || c.Len != 0):
		return errors.New("a place in a pack, but the image names no packs")
	case packs == 0 || c.Zero:
		return nil // a zero chunk is never read: its place does not matter
	case c.Pack < 1 || int(c.Pack) > packs:
		return fmt.Errorf("pack number %d, but the image names %d packs", c.Pack, packs)
	case c.Len < 9 || int64(c.Len) > int64(chunk.MaxEncodedLen(cs)):
		return fmt.Errorf("%d bytes as stored, impossible for a chunk of up to %d bytes", c.Len, cs)
	}
	return nil
}

// Range returns the byte range chunk index i covers, relative to the area.
func (a *Area) Range(i int64, chunkSize int) Extent {
	off := i * int64(chunkSize)
	return Extent{off, min(int64(chunkSize), a.Length-off)}
}

// Masked returns the parts of chunk range rng (relative to the area) that
// are in Used, relative to rng.Off.
func (a *Area) Masked(rng Extent) []Extent {
	var out []Extent
	// Used is sorted: find the first extent ending after rng.Off.
	lo, hi := 0, len(a.Used)
	for lo < hi {
		m := (lo + hi) / 2
		if a.Used[m].End() <= rng.Off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for _, u := range a.Used[lo:] {
		if u.Off >= rng.End() {
			break
		}
		s, e := max(u.Off, rng.Off), min(u.End(), rng.End())
		if s < e {
			out = append(out, Extent{s - rng.Off, e - s})
		}
	}
	return out
}

// Data returns the parts of chunk range rng (relative to the area) that
// a capture reads: those in Used but not in Zeroed, relative to rng.Off.
func (a *Area) Data(rng Extent) []Extent {
	used := a.Masked(rng)
	if len(a.Zeroed) == 0 {
		return used
	}
	zeroed := inRange(a.Zeroed, rng)
	var out []Extent
	k := 0
	for _, u := range used {
		pos := u.Off
		for ; k < len(zeroed) && zeroed[k].Off < u.End(); k++ {
			if z := zeroed[k]; z.Off > pos {
				out = append(out, Extent{pos, z.Off - pos})
			}
			pos = max(pos, zeroed[k].End())
		}
		if k > 0 && zeroed[k-1].End() > u.End() {
			k-- // it reaches into the next used extent
		}
		if pos < u.End() {
			out = append(out, Extent{pos, u.End() - pos})
		}
	}
	return out
}

// inRange returns the parts of sorted extents ext inside rng, relative to
// rng.Off.
func inRange(ext []Extent, rng Extent) []Extent {
	i := sort.Search(len(ext), func(i int) bool { return ext[i].End() > rng.Off })
	var out []Extent
	for _, e := range ext[i:] {
		if e.Off >= rng.End() {
			break
		}
		s, end := max(e.Off, rng.Off), min(e.End(), rng.End())
		out = append(out, Extent{s - rng.Off, end - s})
	}
	return out
}

// ZeroedBytes sums the lengths of the area's Zeroed ranges.
func (a *Area) ZeroedBytes() int64 { return Size(a.Zeroed) }

func (img *Image) refs(fn func(chunk.ID)) {
	for _, l := range img.Lists {
		fn(l.ID)
	}
	for i := range img.Disks {
		for _, a := range img.Disks[i].Areas() {
			a.refs(fn)
		}
	}
}

func (a *Area) refs(fn func(chunk.ID)) {
	for _, c := range a.Chunks {
		if !c.Zero {
			fn(c.ID)
		}
	}
}

// UsedBytes sums every area's used bytes.
func (img *Image) UsedBytes() int64 {
	var n int64
	for i := range img.Disks {
		n += img.Disks[i].Areas().UsedBytes()
	}
	return n
}

// ZeroedBytes sums every area's zeroed bytes: the part of UsedBytes that
// a capture records as zeros without reading it.
func (img *Image) ZeroedBytes() int64 {
	var n int64
	for i := range img.Disks {
		for _, a := range img.Disks[i].Areas() {
			n += a.ZeroedBytes()
		}
	}
	return n
}

// Areas is a list of a disk's areas.
type Areas []*Area

// Areas returns the disk's boot areas and partitions, in disk order (by
// Offset; a boot area before a partition at the same offset).
func (d *Disk) Areas() Areas {
	as := append(d.BootAreas(), d.PartitionAreas()...)
	sort.SliceStable(as, func(x, y int) bool { return as[x].Offset < as[y].Offset })
	return as
}

// BootAreas returns the disk's boot areas, in manifest order.
func (d *Disk) BootAreas() Areas {
	as := make(Areas, 0, len(d.Boot)+len(d.Partitions))
	for i := range d.Boot {
		as = append(as, &d.Boot[i])
	}
	return as
}

// PartitionAreas returns the areas of the disk's partitions, in manifest
// order.
func (d *Disk) PartitionAreas() Areas {
	as := make(Areas, 0, len(d.Partitions))
	for i := range d.Partitions {
		as = append(as, &d.Partitions[i].Area)
	}
	return as
}

// UsedBytes sums the areas' used bytes.
func (as Areas) UsedBytes() int64 {
	var n int64
	for _, a := range as {
		n += a.UsedBytes
	}
	return n
}

// Chunks counts the chunks the areas list.
func (as Areas) Chunks() int64 {
	var n int64
	for _, a := range as {
		n += int64(len(a.Chunks))
	}
	return n
}

// End returns the offset just after the last of the areas: for a disk's
// partitions, the size of the smallest disk that holds them.
func (as Areas) End() int64 {
	var end int64
	for _, a := range as {
		end = max(end, a.Offset+a.Length)
	}
	return end
}

// Size sums the extents' lengths.
func Size(ext []Extent) int64 {
	var n int64
	for _, e := range ext {
		n += e.Len
	}
	return n
}

// ReadGap is the largest gap between used extents that ReadMasked reads
// over rather than skips, and that a restore rewrites as it was rather
// than splitting a write: one larger request costs less than a seek.
const ReadGap = 64 << 10

// ReadMasked reads range rng of the area (relative to Offset) from src, the
// disk the area belongs to, into p (rng.Len bytes): the used bytes as they
// are and zeros elsewhere. That is the plaintext of the chunks the range
// covers when src holds the image. Used extents less than ReadGap apart are
// read in one request and the gap cleared afterwards. It returns the bytes
// read from src, gaps read over included.
//
// Every used byte must be there: a read that comes back short, at the end
// of src or not, is an error wrapping io.ErrUnexpectedEOF (never io.EOF)
// that names the disk offset. Unused bytes are never read, so a range whose
// unused tail lies beyond the end of src reads as zeros there.
//
// ReadMasked reads a target, to compare it with the image or to check it:
// Zeroed bytes are read as they are, and must be zero to match. A capture
// reads the source with ReadData.
func (a *Area) ReadMasked(src io.ReaderAt, rng Extent, p []byte) (int64, error) {
	return a.readParts(src, rng, a.Masked(rng), p)
}

// ReadData reads range rng of the area from src, the disk being captured,
// as ReadMasked does but with the Zeroed bytes left as zeros and not
// read: the plaintext of the chunks the range covers.
func (a *Area) ReadData(src io.ReaderAt, rng Extent, p []byte) (int64, error) {
	return a.readParts(src, rng, a.Data(rng), p)
}

// readParts reads the parts used (relative to rng.Off) of range rng of
// the area from src into p, and zeros elsewhere.
func (a *Area) readParts(src io.ReaderAt, rng Extent, used []Extent, p []byte) (int64, error) {
	if int64(len(p)) != rng.Len {
		return 0, fmt.Errorf("reading %d bytes at offset %d of an area into %d bytes: the buffer must hold the range", rng.Len, rng.Off, len(p))
	}
	var n int64
	for _, run := range Coalesce(used, ReadGap) {
		off := a.Offset + rng.Off + run.Off
		k, err := src.ReadAt(p[run.Off:run.End()], off)
		if int64(k) != run.Len {
			switch {
			case err == nil:
				err = fmt.Errorf("the disk returned only %d of them: %w", k, io.ErrUnexpectedEOF)
			case errors.Is(err, io.EOF):
				err = fmt.Errorf("the disk ends after %d of them: %w", k, io.ErrUnexpectedEOF)
			}
			return n, fmt.Errorf("reading %d used bytes at disk offset %d: %w", run.Len, off, err)
		}
		n += run.Len
	}
	// Zero what is not used: before the first extent, between, after.
	pos := int64(0)
	for _, u := range used {
		clear(p[pos:u.Off])
		pos = u.End()
	}
	clear(p[pos:])
	return n, nil
}

// maxChunksPerArea bounds a manifest's claims before anything is allocated
// from them: 2^26 chunks of 64 KiB is 4 TiB, of 1 MiB 64 TiB.
const maxChunksPerArea = 1 << 26

// check validates what a reader relies on. Without chunks (a format-2
// snapshot whose chunk lists are not loaded yet), the areas' chunk lists
// are not checked: they must be empty.
func (img *Image) check(maxChunk int, chunks bool) error {
	cs := img.ChunkSize
	if cs < 4096 || cs > maxChunk || cs&(cs-1) != 0 {
		return fmt.Errorf("image chunk size %d is not a power of two from 4096 to %d", cs, maxChunk)
	}
	if len(img.Disks) == 0 {
		return errors.New("image has no disks")
	}
	for i := range img.Disks {
		d := &img.Disks[i]
		if d.Size <= 0 {
			return fmt.Errorf("disk %d has size %d", i+1, d.Size)
		}
		if d.SectorSize != 512 && d.SectorSize != 4096 {
			return fmt.Errorf("disk %d has sector size %d", i+1, d.SectorSize)
		}
		for j := range d.Boot {
			if err := d.Boot[j].check(cs, d.Size, len(img.Packs), chunks); err != nil {
				return fmt.Errorf("disk %d boot area %d: %w", i+1, j+1, err)
			}
		}
		for j := range d.Partitions {
			if err := d.Partitions[j].check(cs, d.Size, len(img.Packs), chunks); err != nil {
				return fmt.Errorf("disk %d partition %d: %w", i+1, d.Partitions[j].Index, err)
			}
		}
	}
	return nil
}

func (a *Area) check(cs int, diskSize int64, packs int, chunks bool) error {
	if a.Offset < 0 || a.Length < 0 || a.Offset > diskSize || a.Length > diskSize-a.Offset {
		return fmt.Errorf("range %d+%d lies outside the disk (%d bytes)", a.Offset, a.Length, diskSize)
	}
	n := (a.Length + int64(cs) - 1) / int64(cs)
	if n > maxChunksPerArea || int64(len(a.Chunks)) > n {
		return fmt.Errorf("%d chunks for %d bytes", len(a.Chunks), a.Length)
	}
	var end, sum int64
	for _, u := range a.Used {
		if u.Len <= 0 || u.Off < end || u.Off > a.Length || u.Len > a.Length-u.Off {
			return fmt.Errorf("used range %d+%d is empty, out of order or outside %d bytes", u.Off, u.Len, a.Length)
		}
		end = u.End()
		sum += u.Len
	}
	if sum != a.UsedBytes {
		return fmt.Errorf("used ranges add up to %d bytes, manifest says %d", sum, a.UsedBytes)
	}
	end = 0
	k := 0
	for _, z := range a.Zeroed {
		for k < len(a.Used) && a.Used[k].End() <= z.Off {
			k++
		}
		if z.Len <= 0 || z.Off < end || k == len(a.Used) || z.Off < a.Used[k].Off || z.Len > a.Used[k].End()-z.Off {
			return fmt.Errorf("zeroed range %d+%d is empty, out of order or not inside one used range", z.Off, z.Len)
		}
		end = z.End()
	}
	if !chunks {
		if a.Chunks != nil {
			return errors.New("chunks listed in the manifest as well as in chunk lists")
		}
		return nil
	}
	// Every chunk that overlaps Used must be listed, or a restore would
	// leave a hole.
	var want int64
	lastIdx := int64(-1)
	for _, u := range a.Used {
		first, final := u.Off/int64(cs), (u.End()-1)/int64(cs)
		if first <= lastIdx {
			first = lastIdx + 1
		}
		if final >= first {
			want += final - first + 1
			lastIdx = final
		}
	}
	if want != int64(len(a.Chunks)) {
		return fmt.Errorf("used ranges need %d chunks, manifest lists %d", want, len(a.Chunks))
	}
	last := int64(-1)
	for _, c := range a.Chunks {
		if c.I <= last || c.I >= n {
			return fmt.Errorf("chunk index %d is out of order or beyond the area's %d chunks", c.I, n)
		}
		last = c.I
		if len(a.Masked(a.Range(c.I, cs))) == 0 {
			return fmt.Errorf("chunk index %d holds no used bytes", c.I)
		}
		// A chunk wholly in Zeroed is zeros: stored data there would
		// restore what the image says must not come back.
		if len(a.Zeroed) > 0 && !c.Zero && len(a.Data(a.Range(c.I, cs))) == 0 {
			return fmt.Errorf("chunk index %d lies in a zeroed range but is not a zero chunk", c.I)
		}
		if err := c.checkLoc(cs, packs); err != nil {
			return fmt.Errorf("chunk index %d: %w", c.I, err)
		}
	}
	return nil
}

// Bytes of JSON a manifest spends, at most, on one chunk entry
// ({"i":123456789,"id":"<64 hex>","p":123456,"o":4294967295,"n":16777225},) and on one used extent
// ({"off":1234567890123,"len":1234567890},): what EstimateSize counts with.
const (
	chunkEntryBytes  = 128
	packEntryBytes   = 67 // "<64 hex>",
	extentEntryBytes = 48
)

// EstimateSize bounds from above the size of the snapshot file of img
// before its chunks are stored: from its areas' used extents, it counts the
// chunks the capture will list. A capture calls it after planning the
// layout, so that an image too large for a snapshot (MaxSnapshotSize) is
// refused before hours of reading, not when it is saved.
//
// listed says the chunk lists go into packs (format 2): the snapshot then
// holds only the packs' names, about one per 16 MiB of used data.
func (img *Image) EstimateSize(listed bool) int64 {
	size := int64(64 << 10) // the header, disks, partition fields and tables' metadata
	for _, d := range img.Disks {
		for _, a := range d.Areas() {
			size += int64(len(a.Used)+len(a.Zeroed)) * extentEntryBytes
			if listed {
				size += (a.UsedBytes/(1<<20) + 2) * packEntryBytes
			} else {
				size += a.plannedChunks(img.ChunkSize) * chunkEntryBytes
			}
		}
	}
	return size
}

// PlannedChunks counts the chunks a capture of img will list.
func (img *Image) PlannedChunks() int64 {
	var n int64
	for _, d := range img.Disks {
		for _, a := range d.Areas() {
			n += a.plannedChunks(img.ChunkSize)
		}
	}
	return n
}

// plannedChunks counts the chunks of the area that its used extents touch:
// the entries a capture lists for it.
func (a *Area) plannedChunks(cs int) int64 {
	if cs <= 0 {
		return 0
	}
	var n int64
	last := int64(-1) // the index of the last chunk counted
	for _, e := range a.Used {
		if e.Len <= 0 {
			continue
		}
		first, end := e.Off/int64(cs), (e.End()-1)/int64(cs)
		if first <= last {
			first = last + 1
		}
		if end >= first {
			n += end - first + 1
			last = end
		}
	}
	return n
}
