// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// fatBPB is what the mapper needs of a FAT boot sector (Microsoft's "FAT:
// General Overview of On-Disk Format", fatgen103).
type fatBPB struct {
	bps, spc            int64 // bytes per sector, sectors per cluster
	reserved, fats      int64
	rootEntries         int64
	fatSectors          int64
	totalSectors        int64
	firstData           int64 // first sector of the data region
	clusters            int64 // data clusters, numbered 2..clusters+1
	bits                int   // 12, 16 or 32
	activeFAT           int64 // the FAT copy to read
	dirty               bool
	label, uuid, fsName string
}

// isFAT recognises a FAT boot sector by its signature and the shape of its
// BIOS parameter block.
func isFAT(h []byte) bool {
	if h[510] != 0x55 || h[511] != 0xaa || !(h[0] == 0xeb || h[0] == 0xe9) {
		return false
	}
	bps := binary.LittleEndian.Uint16(h[0x0b:])
	spc := h[0x0d]
	return (bps == 512 || bps == 1024 || bps == 2048 || bps == 4096) &&
		spc != 0 && spc&(spc-1) == 0 &&
		binary.LittleEndian.Uint16(h[0x0e:]) != 0 && h[0x10] != 0
}

// parseFAT reads and checks a FAT boot sector. Every value later used as a
// size or a count is bounded here.
func parseFAT(h []byte) (*fatBPB, error) {
	le := binary.LittleEndian
	b := &fatBPB{
		bps:          int64(le.Uint16(h[0x0b:])),
		spc:          int64(h[0x0d]),
		reserved:     int64(le.Uint16(h[0x0e:])),
		fats:         int64(h[0x10]),
		rootEntries:  int64(le.Uint16(h[0x11:])),
		totalSectors: int64(le.Uint16(h[0x13:])),
		fatSectors:   int64(le.Uint16(h[0x16:])),
	}
	if b.bps < 512 || b.bps > 4096 || b.bps&(b.bps-1) != 0 || b.spc == 0 || b.spc&(b.spc-1) != 0 || b.reserved == 0 || b.fats == 0 {
		return nil, fmt.Errorf("boot sector geometry (%d bytes per sector, %d per cluster, %d reserved, %d FATs) is out of range: %w",
			b.bps, b.spc, b.reserved, b.fats, ErrCorrupt)
	}
	if b.totalSectors == 0 {
		b.totalSectors = int64(le.Uint32(h[0x20:]))
	}
	fat32 := b.fatSectors == 0
	if fat32 {
		b.fatSectors = int64(le.Uint32(h[0x24:]))
		if flags := le.Uint16(h[0x28:]); flags&0x80 != 0 { // mirroring off
			b.activeFAT = int64(flags & 0x0f)
		}
	}
	if b.fats > 4 || b.activeFAT >= b.fats {
		return nil, fmt.Errorf("%d FATs (active %d) is out of range: %w", b.fats, b.activeFAT, ErrCorrupt)
	}
	if b.fatSectors == 0 {
		return nil, fmt.Errorf("FAT size is 0 sectors: %w", ErrCorrupt)
	}
	rootSectors := (b.rootEntries*32 + b.bps - 1) / b.bps
	b.firstData = b.reserved + b.fats*b.fatSectors + rootSectors
	if b.totalSectors <= b.firstData {
		return nil, fmt.Errorf("%d sectors leave no room for data after %d sectors of metadata: %w", b.totalSectors, b.firstData, ErrCorrupt)
	}
	b.clusters = (b.totalSectors - b.firstData) / b.spc
	switch {
	case b.clusters < 4085:
		b.bits = 12
	case b.clusters < 65525:
		b.bits = 16
	default:
		b.bits = 32
	}
	if (b.bits == 32) != fat32 {
		return nil, fmt.Errorf("%d clusters do not fit the boot sector's FAT type: %w", b.clusters, ErrCorrupt)
	}
	if b.bits == 32 && (b.rootEntries != 0 || b.clusters > 0x0ffffff5) {
		return nil, fmt.Errorf("FAT32 with %d root entries and %d clusters: %w", b.rootEntries, b.clusters, ErrCorrupt)
	}
	if need := ((b.clusters+2)*int64(b.bits) + 7) / 8; need > b.fatSectors*b.bps {
		return nil, fmt.Errorf("a FAT of %d sectors cannot hold %d clusters: %w", b.fatSectors, b.clusters, ErrCorrupt)
	}
	ext := h[0x24:]
	if fat32 {
		ext = h[0x40:]
	}
	b.dirty = ext[1]&1 != 0
	if ext[2] == 0x29 {
		id := le.Uint32(ext[3:])
		b.uuid = fmt.Sprintf("%04X-%04X", id>>16, id&0xffff)
		if l := cString(ext[7:18]); l != "NO NAME" {
			b.label = l
		}
	}
	b.fsName = fmt.Sprintf("fat%d", b.bits)
	return b, nil
}

// fatSummary names the FAT filesystem whose boot sector h holds, with
// its label and serial number; all empty when h does not parse.
func fatSummary(h []byte) Summary {
	b, err := parseFAT(h)
	if err != nil {
		return Summary{}
	}
	return Summary{FS: b.fsName, Label: b.label, UUID: b.uuid}
}

// fatReadChunk is how much of a FAT is read at a time.
const fatReadChunk = 1 << 20

// readFAT maps a FAT12/16/32 filesystem: its reserved sectors, FATs and
// (FAT12/16) root directory, and every cluster whose FAT entry is not free
// nor marked bad.
func readFAT(ctx context.Context, r io.ReaderAt, size int64, h []byte) (*Map, error) {
	b, err := parseFAT(h)
	if err != nil {
		return nil, fmt.Errorf("FAT boot sector: %w", err)
	}
	cs := b.spc * b.bps
	s := Summary{
		FS:        b.fsName,
		Label:     b.label,
		UUID:      b.uuid,
		BlockSize: cs,
		Total:     b.totalSectors * b.bps,
		Clean:     !b.dirty,
		Mode:      UsedBlocks,
	}
	if s.Total > size {
		return nil, fmt.Errorf("%s filesystem is %d bytes but its partition only %d: the partition was shrunk or the boot sector is damaged; image it raw: %w",
			s.FS, s.Total, size, ErrCorrupt)
	}
	x := newExtents(s.Total)
	x.add(0, b.firstData*b.bps)
	dataOff := b.firstData * b.bps
	bad := uint32(0x0ffffff7)
	mask := uint32(0x0fffffff)
	switch b.bits {
	case 12:
		bad, mask = 0xff7, 0xfff
	case 16:
		bad, mask = 0xfff7, 0xffff
	}
	// Clusters 0 and 1 are not data: entry 1's top bits are the FAT16/32
	// clean-shutdown flag.
	fatBytes := ((b.clusters+2)*int64(b.bits) + 7) / 8
	fatOff := (b.reserved + b.activeFAT*b.fatSectors) * b.bps
	chunk := int64(fatReadChunk)
	if b.bits == 12 {
		chunk = fatBytes // at most 6 KiB; entries straddle bytes
	}
	buf := make([]byte, min(chunk, fatBytes))
	var entry1 uint32
	for pos := int64(0); pos < fatBytes; pos += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(chunk, fatBytes-pos)
		if n > b.fatSectors*b.bps-pos {
			n = b.fatSectors*b.bps - pos
		}
		if _, err := readFull(r, buf[:n], fatOff+pos); err != nil {
			return nil, fmt.Errorf("reading the FAT: %w", err)
		}
		first := pos * 8 / int64(b.bits) // entry number of buf[0]
		last := min((pos+n)*8/int64(b.bits), b.clusters+2)
		for c := first; c < last; c++ {
			var v uint32
			switch b.bits {
			case 12:
				o := c + c/2 - pos
				if o+1 >= n {
					continue
				}
				v = uint32(binary.LittleEndian.Uint16(buf[o:]))
				if c&1 != 0 {
					v >>= 4
				}
			case 16:
				v = uint32(binary.LittleEndian.Uint16(buf[c*2-pos:]))
			default:
				v = binary.LittleEndian.Uint32(buf[c*4-pos:])
			}
			v &= mask
			if c == 1 {
				entry1 = v
			}
			if c < 2 || v == 0 || v == bad {
				continue
			}
			x.add(dataOff+(c-2)*cs, cs)
		}
	}
	switch b.bits {
	case 16:
		s.Clean = s.Clean && entry1&0x8000 != 0
	case 32:
		s.Clean = s.Clean && entry1&0x08000000 != 0
	}
	m := &Map{Summary: s}
	m.Extents, m.Used = x.result()
	if !s.Clean {
		m.Reason = "the filesystem was not unmounted cleanly: run fsck.fat on it"
	}
	return m, nil
}
