// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// The internal journal of ext3/4 (jbd2; the kernel's include/linux/jbd2.h,
// e2fsprogs lib/ext2fs/kernel-jbd.h). Its inode's first block is the
// journal superblock; the blocks from s_first to s_maxlen are the log. When
// the filesystem was unmounted cleanly the superblock's s_start is 0: the
// log is empty and neither the kernel nor e2fsck reads it until new
// transactions are written over it. Its old content still differs every
// week, so a capture records it as zeros (what mke2fs writes there) and a
// restore writes zeros, which also leaves no stale transaction on the
// target for a later recovery to find.
const (
	extJournalInum    = 0xe0  // s_journal_inum
	extJnlBackupType  = 0xfd  // s_jnl_backup_type
	extJnlBlocks      = 0x10c // s_jnl_blocks: the journal inode's i_block, i_size_high, i_size
	extJnlBackupBlock = 1     // EXT3_JNL_BACKUP_BLOCKS

	extInodeModeOff  = 0x00
	extInodeSizeLo   = 0x04
	extInodeFlagsOff = 0x20
	extInodeBlock    = 0x28 // i_block: 60 bytes
	extInodeSizeHi   = 0x6c
	extInodeExtents  = 0x80000 // EXT4_EXTENTS_FL

	extExtentMagic    = 0xf30a
	extExtentMaxDepth = 5

	jbd2Magic        = 0xc03b3998
	jbd2SuperV1      = 3
	jbd2SuperV2      = 4
	jbd2CsumV2       = 0x8 // JBD2_FEATURE_INCOMPAT_CSUM_V2
	jbd2CsumV3       = 0x10
	jbd2ChecksumOff  = 0xfc
	jbd2SuperblockSz = 1024

	// maxJournalRuns bounds the runs of a journal's block map: mke2fs
	// makes one to a few dozen; a badly fragmented one is imaged whole.
	maxJournalRuns = 1 << 16
)

// jrun maps n logical blocks of a file from lblk to physical blocks from
// pblk.
type jrun struct{ lblk, pblk, n int64 }

// journalBody returns, as partition byte ranges, the log of the internal
// journal of a cleanly unmounted ext3/4: every journal block from s_first
// to s_maxlen, not the journal superblock. itab is the first block of the
// inode table of the journal inode's group. It returns nil, with no error,
// when there is no internal journal, when it is not empty, or when
// anything about it does not add up (the inode against the superblock's
// backup of it, its block map, the journal superblock and its checksum):
// the journal is then imaged as data, like any used block. Errors are the
// reader's.
func (sb *extSuper) journalBody(r io.ReaderAt, raw []byte, itab int64) ([]Extent, error) {
	le := binary.LittleEndian
	bs := sb.blockSize
	inum := int64(le.Uint32(raw[extJournalInum:]))
	if sb.compat&extCompatHasJournal == 0 || sb.incompat&extIncompatRecover != 0 || inum == 0 ||
		raw[extJnlBackupType] != extJnlBackupBlock || itab <= 0 {
		return nil, nil
	}
	idx := (inum - 1) % sb.inodesPerGroup
	ino := make([]byte, 128)
	if _, err := readFull(r, ino, itab*bs+idx*sb.inodeSize); err != nil {
		return nil, fmt.Errorf("reading the journal's inode %d: %w", inum, err)
	}
	size := int64(le.Uint32(ino[extInodeSizeLo:])) | int64(le.Uint32(ino[extInodeSizeHi:]))<<32
	// The superblock keeps a copy of the journal inode's block map and
	// size: both must agree, or this is not the journal's inode.
	if le.Uint16(ino[extInodeModeOff:])&0xf000 != 0x8000 ||
		!bytes.Equal(ino[extInodeBlock:extInodeBlock+60], raw[extJnlBlocks:extJnlBlocks+60]) ||
		le.Uint32(raw[extJnlBlocks+60:]) != le.Uint32(ino[extInodeSizeHi:]) ||
		le.Uint32(raw[extJnlBlocks+64:]) != le.Uint32(ino[extInodeSizeLo:]) {
		return nil, nil
	}
	nblocks := size / bs
	if nblocks < 2 || nblocks > sb.blocks {
		return nil, nil
	}
	var runs []jrun
	var err error
	if le.Uint32(ino[extInodeFlagsOff:])&extInodeExtents != 0 {
		runs, err = sb.extentRuns(r, ino[extInodeBlock:extInodeBlock+60], nblocks)
	} else {
		runs, err = sb.indirectRuns(r, ino[extInodeBlock:extInodeBlock+60], nblocks)
	}
	if err != nil || len(runs) == 0 || runs[0].lblk != 0 {
		return nil, err
	}

	js := make([]byte, jbd2SuperblockSz)
	if _, err := readFull(r, js, runs[0].pblk*bs); err != nil {
		return nil, fmt.Errorf("reading the journal superblock: %w", err)
	}
	be := binary.BigEndian
	blockType := be.Uint32(js[4:])
	maxLen, first := int64(be.Uint32(js[0x10:])), int64(be.Uint32(js[0x14:]))
	start, errno := be.Uint32(js[0x1c:]), be.Uint32(js[0x20:])
	if be.Uint32(js[0:]) != jbd2Magic || (blockType != jbd2SuperV1 && blockType != jbd2SuperV2) ||
		int64(be.Uint32(js[0x0c:])) != bs || first < 1 || maxLen <= first || maxLen > nblocks ||
		start != 0 || errno != 0 {
		return nil, nil
	}
	if blockType == jbd2SuperV2 && be.Uint32(js[0x28:])&(jbd2CsumV2|jbd2CsumV3) != 0 {
		want := be.Uint32(js[jbd2ChecksumOff:])
		clear(js[jbd2ChecksumOff : jbd2ChecksumOff+4])
		if crc32cRaw(^uint32(0), js) != want {
			return nil, nil
		}
	}

	// The log's blocks, in partition bytes; the runs cover [0, nblocks)
	// without a hole.
	var body []Extent
	for _, rn := range runs {
		lo, hi := max(rn.lblk, first), min(rn.lblk+rn.n, maxLen)
		if lo >= hi {
			continue
		}
		body = append(body, Extent{(rn.pblk + lo - rn.lblk) * bs, (hi - lo) * bs})
	}
	// In partition order: a journal made on a used filesystem may lie in
	// pieces in any order (two pieces on one block would be damage, and
	// merge would join them).
	return merge(body, false, 0), nil
}

// addRun appends a run to runs, joining it to the last one where both
// continue each other. It fails when the block map is not in order, leaves
// a hole, points outside the filesystem or has too many runs.
func (sb *extSuper) addRun(runs []jrun, rn jrun) ([]jrun, bool) {
	if rn.n <= 0 || rn.pblk <= sb.firstData || rn.pblk >= sb.blocks || rn.n > sb.blocks-rn.pblk {
		return runs, false
	}
	next := int64(0)
	if k := len(runs); k > 0 {
		last := &runs[k-1]
		next = last.lblk + last.n
		if rn.lblk == next && rn.pblk == last.pblk+last.n {
			last.n += rn.n
			return runs, true
		}
	}
	if rn.lblk != next || len(runs) >= maxJournalRuns {
		return runs, false
	}
	return append(runs, rn), true
}

// extentRuns maps the first nblocks blocks of a file through its extent
// tree, whose root is iblock (the inode's 60 bytes of i_block). It returns
// nil when the tree is not well formed or does not map every block.
func (sb *extSuper) extentRuns(r io.ReaderAt, iblock []byte, nblocks int64) ([]jrun, error) {
	var runs []jrun
	buf := make([][]byte, extExtentMaxDepth)
	var walk func(node []byte, depth int) (bool, error)
	walk = func(node []byte, depth int) (bool, error) {
		le := binary.LittleEndian
		if len(node) < 12 || le.Uint16(node[0:]) != extExtentMagic {
			return false, nil
		}
		entries, maxEntries, d := int(le.Uint16(node[2:])), int(le.Uint16(node[4:])), int(le.Uint16(node[6:]))
		if entries > maxEntries || 12+12*maxEntries > len(node) || (depth >= 0 && d != depth) || d >= extExtentMaxDepth {
			return false, nil
		}
		for i := 0; i < entries; i++ {
			e := node[12+12*i:][:12]
			lblk := int64(le.Uint32(e[0:]))
			if lblk >= nblocks {
				break
			}
			if d == 0 {
				n := int64(le.Uint16(e[4:]))
				if n > 32768 {
					return false, nil // unwritten: not what mke2fs makes of a journal
				}
				pblk := int64(le.Uint16(e[6:]))<<32 | int64(le.Uint32(e[8:]))
				var ok bool
				if runs, ok = sb.addRun(runs, jrun{lblk, pblk, min(n, nblocks-lblk)}); !ok {
					return false, nil
				}
				continue
			}
			child := int64(le.Uint16(e[8:]))<<32 | int64(le.Uint32(e[4:]))
			if child <= sb.firstData || child >= sb.blocks {
				return false, nil
			}
			if buf[d-1] == nil {
				buf[d-1] = make([]byte, sb.blockSize)
			}
			if _, err := readFull(r, buf[d-1], child*sb.blockSize); err != nil {
				return false, fmt.Errorf("reading the journal's extent tree: %w", err)
			}
			if ok, err := walk(buf[d-1], d-1); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	}
	ok, err := walk(iblock, -1)
	if !ok || err != nil || len(runs) == 0 || runs[len(runs)-1].lblk+runs[len(runs)-1].n != nblocks {
		return nil, err
	}
	return runs, nil
}

// indirectRuns maps the first nblocks blocks of a file through the block
// map of ext2/3 (twelve direct blocks, then an indirect, a double and a
// triple indirect block in i_block). It returns nil when a block is not
// mapped or the map points outside the filesystem.
func (sb *extSuper) indirectRuns(r io.ReaderAt, iblock []byte, nblocks int64) ([]jrun, error) {
	le := binary.LittleEndian
	per := sb.blockSize / 4
	var runs []jrun
	lblk := int64(0)
	bufs := make([][]byte, 3)
	// walk maps the blocks under pointer p, a tree of the given depth
	// (0: p is a data block).
	var walk func(p int64, depth int) (bool, error)
	walk = func(p int64, depth int) (bool, error) {
		if depth == 0 {
			var ok bool
			runs, ok = sb.addRun(runs, jrun{lblk, p, 1})
			lblk++
			return ok, nil
		}
		if p <= sb.firstData || p >= sb.blocks {
			return false, nil
		}
		b := bufs[depth-1]
		if b == nil {
			b = make([]byte, sb.blockSize)
			bufs[depth-1] = b
		}
		if _, err := readFull(r, b, p*sb.blockSize); err != nil {
			return false, fmt.Errorf("reading the journal's block map: %w", err)
		}
		for i := int64(0); i < per && lblk < nblocks; i++ {
			if ok, err := walk(int64(le.Uint32(b[4*i:])), depth-1); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	}
	for i := 0; i < 15 && lblk < nblocks; i++ {
		depth := max(0, i-11)
		if ok, err := walk(int64(le.Uint32(iblock[4*i:])), depth); !ok || err != nil {
			return nil, err
		}
	}
	if lblk < nblocks {
		return nil, nil
	}
	return runs, nil
}
