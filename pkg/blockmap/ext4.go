// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// ext2/3/4 on-disk constants (e2fsprogs lib/ext2fs/ext2_fs.h).
const (
	extMagic = 0xef53

	extCompatHasJournal   = 0x0004
	extCompatSparseSuper2 = 0x0200

	extIncompatRecover    = 0x0004
	extIncompatJournalDev = 0x0008
	extIncompatMetaBG     = 0x0010
	extIncompatExtents    = 0x0040
	extIncompat64Bit      = 0x0080
	extIncompatFlexBG     = 0x0200
	extIncompatCsumSeed   = 0x2000

	extROCompatSparseSuper  = 0x0001
	extROCompatHugeFile     = 0x0008
	extROCompatGDTCsum      = 0x0010
	extROCompatDirNlink     = 0x0020
	extROCompatExtraIsize   = 0x0040
	extROCompatBigalloc     = 0x0200
	extROCompatMetadataCsum = 0x0400

	extStateValid = 0x0001
	extStateError = 0x0002

	extBGBlockUninit = 0x0002
)

func isExt(h []byte) bool {
	return binary.LittleEndian.Uint16(h[1024+0x38:]) == extMagic
}

// extSuper is what the mapper needs of an ext2/3/4 superblock.
type extSuper struct {
	blocks, firstData, blockSize     int64
	blocksPerGroup, inodesPerGroup   int64
	inodeSize, descSize              int64
	reservedGDT, firstMetaBG         int64
	compat, incompat, roCompat       uint32
	state                            uint16
	backupBGs                        [2]int64
	uuid                             []byte
	csumSeed                         uint32 // metadata_csum: crc32c seed of every checksum
	groups, descPerBlock, descBlocks int64
	inodeBlocksPerGroup              int64
}

func (sb *extSuper) has(compat, incompat, roCompat uint32) bool {
	return sb.compat&compat != 0 || sb.incompat&incompat != 0 || sb.roCompat&roCompat != 0
}

// parseExtSuper reads and checks the superblock in b (1024 bytes). Every
// value later used as a size or a count is bounded here.
func parseExtSuper(b []byte) (*extSuper, error) {
	le := binary.LittleEndian
	sb := &extSuper{
		firstData:      int64(le.Uint32(b[0x14:])),
		blocksPerGroup: int64(le.Uint32(b[0x20:])),
		inodesPerGroup: int64(le.Uint32(b[0x28:])),
		state:          le.Uint16(b[0x3a:]),
		compat:         le.Uint32(b[0x5c:]),
		incompat:       le.Uint32(b[0x60:]),
		roCompat:       le.Uint32(b[0x64:]),
		reservedGDT:    int64(le.Uint16(b[0xce:])),
		firstMetaBG:    int64(le.Uint32(b[0x104:])),
		inodeSize:      128,
		descSize:       32,
	}
	logBS := le.Uint32(b[0x18:])
	if logBS > 6 {
		return nil, fmt.Errorf("block size 2^(10+%d) is out of range: %w", logBS, ErrCorrupt)
	}
	sb.blockSize = 1024 << logBS
	sb.blocks = int64(le.Uint32(b[0x04:]))
	if sb.incompat&extIncompat64Bit != 0 {
		sb.blocks |= int64(le.Uint32(b[0x150:])) << 32
		sb.descSize = int64(le.Uint16(b[0xfe:]))
		if sb.descSize < 64 || sb.descSize > 1024 || sb.descSize&(sb.descSize-1) != 0 {
			return nil, fmt.Errorf("group descriptor size %d is out of range: %w", sb.descSize, ErrCorrupt)
		}
	}
	if le.Uint32(b[0x4c:]) >= 1 { // dynamic revision: variable inode size
		sb.inodeSize = int64(le.Uint16(b[0x58:]))
		if sb.inodeSize < 128 || sb.inodeSize > sb.blockSize || sb.inodeSize&(sb.inodeSize-1) != 0 {
			return nil, fmt.Errorf("inode size %d is out of range: %w", sb.inodeSize, ErrCorrupt)
		}
	}
	if sb.blocksPerGroup < 256 || sb.blocksPerGroup > 8*sb.blockSize || sb.blocksPerGroup%8 != 0 { // mke2fs allows 256 and up
		return nil, fmt.Errorf("%d blocks per group is out of range: %w", sb.blocksPerGroup, ErrCorrupt)
	}
	if want := int64(0); sb.blockSize == 1024 {
		want = 1
		if sb.firstData != want {
			return nil, fmt.Errorf("first data block %d, want %d: %w", sb.firstData, want, ErrCorrupt)
		}
	} else if sb.firstData != 0 {
		return nil, fmt.Errorf("first data block %d, want 0: %w", sb.firstData, ErrCorrupt)
	}
	if sb.blocks <= sb.firstData || sb.blocks > 1<<48 {
		return nil, fmt.Errorf("block count %d is out of range: %w", sb.blocks, ErrCorrupt)
	}
	if sb.inodesPerGroup == 0 || sb.inodesPerGroup > 8*sb.blockSize {
		return nil, fmt.Errorf("%d inodes per group is out of range: %w", sb.inodesPerGroup, ErrCorrupt)
	}
	sb.inodeBlocksPerGroup = (sb.inodesPerGroup*sb.inodeSize + sb.blockSize - 1) / sb.blockSize
	sb.groups = (sb.blocks - sb.firstData + sb.blocksPerGroup - 1) / sb.blocksPerGroup
	sb.descPerBlock = sb.blockSize / sb.descSize
	sb.descBlocks = (sb.groups + sb.descPerBlock - 1) / sb.descPerBlock
	if sb.descBlocks+sb.reservedGDT >= sb.blocks {
		return nil, fmt.Errorf("%d group descriptor blocks do not fit in %d blocks: %w", sb.descBlocks+sb.reservedGDT, sb.blocks, ErrCorrupt)
	}
	sb.uuid = b[0x68:0x78]
	if sb.incompat&extIncompatCsumSeed != 0 {
		sb.csumSeed = le.Uint32(b[0x270:])
	} else {
		sb.csumSeed = crc32cRaw(^uint32(0), sb.uuid)
	}
	if sb.compat&extCompatSparseSuper2 != 0 {
		sb.backupBGs = [2]int64{int64(le.Uint32(b[0x24c:])), int64(le.Uint32(b[0x250:]))}
	}
	return sb, nil
}

// name tells ext2, ext3 and ext4 apart the way blkid does, roughly.
func (sb *extSuper) name() string {
	switch {
	case sb.has(0, extIncompatExtents|extIncompat64Bit|extIncompatFlexBG,
		extROCompatHugeFile|extROCompatGDTCsum|extROCompatDirNlink|extROCompatExtraIsize|extROCompatMetadataCsum|extROCompatBigalloc):
		return "ext4"
	case sb.compat&extCompatHasJournal != 0:
		return "ext3"
	}
	return "ext2"
}

func (sb *extSuper) groupFirst(g int64) int64 { return sb.firstData + g*sb.blocksPerGroup }

// groupHasSuper reports whether group g holds a superblock backup
// (e2fsprogs ext2fs_bg_has_super).
func (sb *extSuper) groupHasSuper(g int64) bool {
	if g == 0 {
		return true
	}
	if sb.compat&extCompatSparseSuper2 != 0 {
		return g == sb.backupBGs[0] || g == sb.backupBGs[1]
	}
	if g <= 1 || sb.roCompat&extROCompatSparseSuper == 0 {
		return true
	}
	if g&1 == 0 {
		return false
	}
	for _, p := range []int64{3, 5, 7} {
		n := p
		for n < g {
			n *= p
		}
		if n == g {
			return true
		}
	}
	return false
}

// descBlock returns the block holding group descriptor block i
// (ext2fs_descriptor_block_loc2 for the primary copy).
func (sb *extSuper) descBlock(i int64) int64 {
	if sb.incompat&extIncompatMetaBG == 0 || i < sb.firstMetaBG {
		return sb.firstData + 1 + i
	}
	g := i * sb.descPerBlock
	b := sb.groupFirst(g)
	if sb.groupHasSuper(g) {
		b++
	}
	return b
}

// reserveSuperAndBGD adds the superblock and descriptor copies that group g
// holds (ext2fs_reserve_super_and_bgd), for groups whose bitmap is not
// initialised.
func (sb *extSuper) reserveSuperAndBGD(x *extents, g int64) {
	first := sb.groupFirst(g)
	if first == 0 && sb.blockSize == 1024 {
		first = 1
	}
	bs := sb.blockSize
	hasSuper := sb.groupHasSuper(g)
	if hasSuper {
		x.add(first*bs, bs)
	}
	oldDesc := sb.descBlocks + sb.reservedGDT
	if sb.incompat&extIncompatMetaBG != 0 {
		oldDesc = sb.firstMetaBG
	}
	metaBG := g / sb.descPerBlock
	if sb.incompat&extIncompatMetaBG == 0 || metaBG < sb.firstMetaBG {
		if hasSuper {
			n := oldDesc
			if first+1+n > sb.blocks {
				n = sb.blocks - first - 1
			}
			x.add((first+1)*bs, n*bs)
		}
	} else if r := g % sb.descPerBlock; r == 0 || r == 1 || r == sb.descPerBlock-1 {
		d := first
		if hasSuper {
			d++
		}
		x.add(d*bs, bs)
	}
}

// extSummary names the ext2/3/4 filesystem whose superblock head holds,
// read from its feature flags, with its label and UUID.
func extSummary(head []byte) Summary {
	raw := head[1024:2048]
	le := binary.LittleEndian
	return Summary{
		FS:    (&extSuper{compat: le.Uint32(raw[0x5c:]), incompat: le.Uint32(raw[0x60:]), roCompat: le.Uint32(raw[0x64:])}).name(),
		Label: cString(raw[0x78:0x88]),
		UUID:  formatUUID(raw[0x68:0x78]),
	}
}

// readExt maps an ext2/3/4 filesystem from its block bitmaps.
func readExt(ctx context.Context, r io.ReaderAt, size int64, head []byte, opt Options) (*Map, error) {
	// Filesystems imaged raw are told apart before the superblock is
	// checked: their geometry differs (no inodes in a journal device,
	// groups counted in clusters with bigalloc).
	raw := head[1024:2048]
	le := binary.LittleEndian
	rs := extSummary(head)
	rs.Clean = true
	switch {
	case le.Uint32(raw[0x60:])&extIncompatJournalDev != 0:
		rs.Reason = "external journal device of an ext3/4 filesystem: every block is imaged"
		return rawMap(size, rs)
	case le.Uint32(raw[0x64:])&extROCompatBigalloc != 0:
		rs.Reason = "ext4 with bigalloc: used-block maps do not support it yet, so every block is imaged"
		return rawMap(size, rs)
	}
	sb, err := parseExtSuper(raw)
	if err != nil {
		return nil, fmt.Errorf("ext superblock: %w", err)
	}
	bs := sb.blockSize
	s := Summary{
		FS:        sb.name(),
		Label:     cString(head[1024+0x78 : 1024+0x88]),
		UUID:      formatUUID(head[1024+0x68 : 1024+0x78]),
		BlockSize: bs,
		Total:     sb.blocks * bs,
		Clean:     sb.state&extStateValid != 0 && sb.state&extStateError == 0 && sb.incompat&extIncompatRecover == 0,
		Mode:      UsedBlocks,
	}
	switch {
	case sb.blocks > size/bs:
		return nil, &FSError{Summary: s, Err: fmt.Errorf("%s filesystem is %d bytes but its partition only %d: the partition was shrunk or the superblock is damaged; image it raw: %w",
			s.FS, sb.blocks*bs, size, ErrCorrupt)}
	case sb.incompat&extIncompatRecover != 0 && !opt.Force:
		s.Clean = false
		return nil, &FSError{Summary: s, Err: fmt.Errorf("%s filesystem %q has a journal that needs recovery (it is mounted, or was not unmounted cleanly): mount and unmount it, or run e2fsck -p on it, then try again: %w",
			s.FS, s.Label, ErrUnclean)}
	}
	switch {
	case sb.incompat&extIncompatRecover != 0:
		s.Reason = "mapped although its journal needs recovery: blocks the journal would write may be missing; run e2fsck -p on it"
	case sb.state&extStateError != 0:
		s.Reason = "the filesystem has recorded errors: run e2fsck on it"
	}

	x := newExtents(sb.blocks * bs)
	x.add(0, sb.firstData*bs) // blocks before s_first_data_block
	x.add(1024, 1024)         // the primary superblock
	trustUninit := sb.roCompat&(extROCompatGDTCsum|extROCompatMetadataCsum) != 0
	inBounds := func(b, n int64) bool { return b > 0 && b < sb.blocks && n <= sb.blocks-b }

	desc := make([]byte, bs)
	bitmap := make([]byte, bs)
	descIdx := int64(-1)
	// The group of the journal's inode, and its inode table's first block.
	jgroup, jitab := int64(-1), int64(0)
	if inum := int64(le.Uint32(raw[extJournalInum:])); inum > 0 && inum <= sb.groups*sb.inodesPerGroup {
		jgroup = (inum - 1) / sb.inodesPerGroup
	}
	for g := int64(0); g < sb.groups; g++ {
		if g%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if i := g / sb.descPerBlock; i != descIdx {
			blk := sb.descBlock(i)
			if !inBounds(blk, 1) {
				return nil, fmt.Errorf("group descriptor block %d at block %d is outside the filesystem: %w", i, blk, ErrCorrupt)
			}
			if _, err := readFull(r, desc, blk*bs); err != nil {
				return nil, fmt.Errorf("reading group descriptors: %w", err)
			}
			x.add(blk*bs, bs)
			descIdx = i
		}
		d := desc[(g%sb.descPerBlock)*sb.descSize:][:sb.descSize]
		bbm := int64(le.Uint32(d[0x00:]))
		ibm := int64(le.Uint32(d[0x04:]))
		itab := int64(le.Uint32(d[0x08:]))
		flags := le.Uint16(d[0x12:])
		if sb.descSize >= 64 {
			bbm |= int64(le.Uint32(d[0x20:])) << 32
			ibm |= int64(le.Uint32(d[0x24:])) << 32
			itab |= int64(le.Uint32(d[0x28:])) << 32
		}
		if !inBounds(bbm, 1) || !inBounds(ibm, 1) || !inBounds(itab, sb.inodeBlocksPerGroup) {
			return nil, fmt.Errorf("group %d: bitmaps (blocks %d, %d) or inode table (block %d) outside the filesystem: %w", g, bbm, ibm, itab, ErrCorrupt)
		}
		// A group's own bitmaps and inode table are always in use,
		// wherever flex_bg put them.
		x.add(bbm*bs, bs)
		x.add(ibm*bs, bs)
		x.add(itab*bs, sb.inodeBlocksPerGroup*bs)
		if g == jgroup {
			jitab = itab
		}

		first := sb.groupFirst(g)
		n := sb.blocksPerGroup
		if first+n > sb.blocks {
			n = sb.blocks - first
		}
		if trustUninit && flags&extBGBlockUninit != 0 && sb.descCsumOK(g, d) {
			// The bitmap was never written: only the group's
			// metadata is in use (e2fsprogs
			// mark_uninit_bg_group_blocks).
			sb.reserveSuperAndBGD(x, g)
			continue
		}
		if _, err := readFull(r, bitmap, bbm*bs); err != nil {
			return nil, fmt.Errorf("reading the block bitmap of group %d: %w", g, err)
		}
		addBitmapRuns(x, bitmap, n, first, bs, 0)
	}
	m := &Map{Summary: s}
	m.Extents, m.Used = x.result()
	if x.coarse() && m.Reason == "" {
		m.Reason = "the filesystem is so fragmented that small free gaps are imaged too"
	}
	body, err := sb.journalBody(r, raw, jitab)
	if err != nil {
		return nil, err
	}
	m.Zeroed, m.Summary.ZeroedBytes = within(body, m.Extents)
	return m, nil
}

// descCsumOK checks group descriptor d of group g against its checksum
// (ext2fs_group_desc_csum), as e2fsprogs does before it trusts
// BLOCK_UNINIT: a damaged descriptor must not make data blocks look free.
func (sb *extSuper) descCsumOK(g int64, d []byte) bool {
	const off = 0x1e // bg_checksum
	var grp [4]byte
	binary.LittleEndian.PutUint32(grp[:], uint32(g))
	want := binary.LittleEndian.Uint16(d[off:])
	if sb.roCompat&extROCompatMetadataCsum != 0 {
		c := crc32cRaw(sb.csumSeed, grp[:])
		c = crc32cRaw(c, d[:off])
		c = crc32cRaw(c, []byte{0, 0})
		c = crc32cRaw(c, d[off+2:])
		return uint16(c) == want
	}
	c := crc16(0xffff, sb.uuid)
	c = crc16(c, grp[:])
	c = crc16(c, d[:off])
	if len(d) > off+2 {
		c = crc16(c, d[off+2:])
	}
	return c == want
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cRaw is the kernel's crc32c_le: CRC-32C without the final
// inversion, chained through c.
func crc32cRaw(c uint32, p []byte) uint32 {
	return ^crc32.Update(^c, castagnoli, p)
}

// crc16 is the CRC-16 (polynomial 0x8005, reflected) of e2fsprogs
// lib/ext2fs/crc16.c, chained through c.
func crc16(c uint16, p []byte) uint16 {
	for _, b := range p {
		c ^= uint16(b)
		for i := 0; i < 8; i++ {
			if c&1 != 0 {
				c = c>>1 ^ 0xa001
			} else {
				c >>= 1
			}
		}
	}
	return c
}
