// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"encoding/binary"
	"fmt"
	"io"
)

// maxLogicals bounds the extended chain: the kernel stops at 256 partitions
// per disk, so no real table has more logicals than that.
const maxLogicals = 252

// mbrEntry is one 16-byte partition entry of an MBR or EBR.
type mbrEntry struct {
	status byte
	typ    byte
	start  uint32 // LBA, relative to the sector it is read from (or to the extended start for EBR links)
	count  uint32 // sectors
}

func (e mbrEntry) isEmpty() bool    { return e.typ == 0 || e.count == 0 }
func (e mbrEntry) isExtended() bool { return e.typ == 0x05 || e.typ == 0x0f || e.typ == 0x85 }

// mbrSector is a parsed MBR or EBR sector.
type mbrSector struct {
	valid     bool // 0x55AA at 510
	signature uint32
	entries   [4]mbrEntry
}

func parseMBRSector(b []byte) mbrSector {
	var m mbrSector
	if len(b) < 512 {
		return m
	}
	m.valid = b[510] == 0x55 && b[511] == 0xaa
	m.signature = binary.LittleEndian.Uint32(b[440:])
	for i := range m.entries {
		e := b[446+16*i:]
		m.entries[i] = mbrEntry{
			status: e[0],
			typ:    e[4],
			start:  binary.LittleEndian.Uint32(e[8:]),
			count:  binary.LittleEndian.Uint32(e[12:]),
		}
	}
	return m
}

// hasProtective reports whether the MBR holds a GPT-protective (0xEE) entry.
func (m mbrSector) hasProtective() bool {
	if !m.valid {
		return false
	}
	for _, e := range m.entries {
		if e.typ == 0xee {
			return true
		}
	}
	return false
}

// isHybrid reports whether a protective MBR also holds other entries.
func (m mbrSector) isHybrid() bool {
	if !m.hasProtective() {
		return false
	}
	for _, e := range m.entries {
		if e.typ != 0xee && !e.isEmpty() {
			return true
		}
	}
	return false
}

// isTable reports whether sector 0 holds a partition table rather than, say,
// the boot sector of a filesystem made on the whole disk: as the kernel
// does, it requires every entry's boot indicator to be 0x00 or 0x80.
func (m mbrSector) isTable() bool {
	if !m.valid {
		return false
	}
	for _, e := range m.entries {
		if e.status != 0 && e.status != 0x80 {
			return false
		}
	}
	return true
}

func (m mbrSector) empty() bool {
	for _, e := range m.entries {
		if !e.isEmpty() {
			return false
		}
	}
	return true
}

func readMBR(r io.ReaderAt, size int64, ss int, m mbrSector) (*Layout, error) {
	l := &Layout{Type: TypeMBR, SectorSize: ss, Size: size, Signature: m.signature, Partitions: []Partition{}}
	sectors := uint64(size) / uint64(ss)
	part := func(idx int, e mbrEntry, base uint64) (Partition, error) {
		start := base + uint64(e.start)
		p := Partition{
			Index:    idx,
			Start:    int64(start) * int64(ss),
			Size:     int64(e.count) * int64(ss),
			Type:     fmt.Sprintf("0x%02x", e.typ),
			TypeName: mbrTypeName(e.typ),
			Bootable: e.status == 0x80,
			Extended: e.isExtended(),
		}
		if start+uint64(e.count) > sectors {
			l.Warnings = append(l.Warnings, fmt.Sprintf("partition %d (sectors %d..%d) runs past the end of the disk (%d sectors)",
				idx, start, start+uint64(e.count)-1, sectors))
		}
		return p, nil
	}
	var extended []mbrEntry
	for i, e := range m.entries {
		if e.isEmpty() {
			continue
		}
		p, err := part(i+1, e, 0)
		if err != nil {
			return nil, err
		}
		l.Partitions = append(l.Partitions, p)
		if e.isExtended() {
			extended = append(extended, e)
		}
	}
	next := 5
	for _, ext := range extended {
		var err error
		next, err = readEBRChain(r, l, ss, sectors, ext, next, part)
		if err != nil {
			return nil, err
		}
	}
	l.Warnings = append(l.Warnings, overlapWarnings(l.Partitions, ss)...)
	return l, nil
}

// readEBRChain follows one extended container's chain of EBRs, appending the
// logical partitions to l, numbered from next. It stops (with a warning) at a
// loop, a link outside the container, a sector without the 0x55AA mark, or
// after maxLogicals partitions.
func readEBRChain(r io.ReaderAt, l *Layout, ss int, sectors uint64, ext mbrEntry, next int,
	part func(int, mbrEntry, uint64) (Partition, error)) (int, error) {
	extStart := uint64(ext.start)
	extEnd := extStart + uint64(ext.count)
	seen := map[uint64]bool{}
	buf := make([]byte, 512)
	ebr := extStart
	for {
		if seen[ebr] {
			l.Warnings = append(l.Warnings, fmt.Sprintf("extended partition chain loops back to sector %d; stopped there", ebr))
			return next, nil
		}
		if ebr < extStart || ebr >= extEnd || ebr >= sectors {
			l.Warnings = append(l.Warnings, fmt.Sprintf("extended partition chain points to sector %d, outside the extended partition (%d..%d) or the disk; stopped there",
				ebr, extStart, extEnd-1))
			return next, nil
		}
		if len(seen) >= maxLogicals || next > maxLogicals+4 {
			l.Warnings = append(l.Warnings, fmt.Sprintf("more than %d logical partitions; stopped reading the extended chain", maxLogicals))
			return next, nil
		}
		seen[ebr] = true
		if err := readFull(r, buf, int64(ebr)*int64(ss)); err != nil {
			return next, fmt.Errorf("reading extended boot record at sector %d: %w", ebr, err)
		}
		e := parseMBRSector(buf)
		if !e.valid {
			l.Warnings = append(l.Warnings, fmt.Sprintf("extended boot record at sector %d has no 0x55AA signature; stopped there", ebr))
			return next, nil
		}
		l.EBRs = append(l.EBRs, int64(ebr)*int64(ss))
		var link *mbrEntry
		for i := range e.entries {
			en := e.entries[i]
			if en.isEmpty() {
				continue
			}
			if en.isExtended() {
				if link == nil {
					link = &e.entries[i]
				}
				continue
			}
			p, err := part(next, en, ebr)
			if err != nil {
				return next, err
			}
			p.Logical = true
			l.Partitions = append(l.Partitions, p)
			next++
		}
		if link == nil {
			return next, nil
		}
		ebr = extStart + uint64(link.start)
	}
}

// mbrTypeName names an MBR partition type as fdisk does.
func mbrTypeName(t byte) string {
	switch t {
	case 0x01:
		return "FAT12"
	case 0x04:
		return "FAT16 <32M"
	case 0x05:
		return "Extended"
	case 0x06:
		return "FAT16"
	case 0x07:
		return "HPFS/NTFS/exFAT"
	case 0x0b:
		return "W95 FAT32"
	case 0x0c:
		return "W95 FAT32 (LBA)"
	case 0x0e:
		return "W95 FAT16 (LBA)"
	case 0x0f:
		return "W95 Ext'd (LBA)"
	case 0x11:
		return "Hidden FAT12"
	case 0x12:
		return "Compaq diagnostics"
	case 0x14:
		return "Hidden FAT16 <32M"
	case 0x16:
		return "Hidden FAT16"
	case 0x17:
		return "Hidden HPFS/NTFS"
	case 0x1b:
		return "Hidden W95 FAT32"
	case 0x1c:
		return "Hidden W95 FAT32 (LBA)"
	case 0x1e:
		return "Hidden W95 FAT16 (LBA)"
	case 0x27:
		return "Hidden NTFS WinRE"
	case 0x42:
		return "SFS"
	case 0x82:
		return "Linux swap / Solaris"
	case 0x83:
		return "Linux"
	case 0x85:
		return "Linux extended"
	case 0x8e:
		return "Linux LVM"
	case 0xa5:
		return "FreeBSD"
	case 0xa6:
		return "OpenBSD"
	case 0xa8:
		return "Darwin UFS"
	case 0xa9:
		return "NetBSD"
	case 0xaf:
		return "HFS / HFS+"
	case 0xde:
		return "Dell Utility"
	case 0xee:
		return "GPT"
	case 0xef:
		return "EFI (FAT-12/16/32)"
	case 0xfb:
		return "VMware VMFS"
	case 0xfd:
		return "Linux raid autodetect"
	}
	return ""
}
