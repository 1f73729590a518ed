// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// maxEntryBytes caps a GPT entry array (entry count × entry size). The usual
// array is 128 × 128 bytes = 16 KiB; 1 MiB leaves room for unusual tables
// and bounds what a corrupt header can make us allocate.
const maxEntryBytes = 1 << 20

var errNoGPT = errors.New("no GPT header")

// gptRaw keeps the header and entry array a Layout was parsed from, for
// WriteTable.
type gptRaw struct {
	header  gptHeader
	entries []byte
}

// gptHeader is a parsed GPT header; raw keeps the whole header sector.
type gptHeader struct {
	raw            []byte
	headerSize     uint32
	myLBA          uint64
	alternateLBA   uint64
	firstUsableLBA uint64
	lastUsableLBA  uint64
	diskGUID       [16]byte
	entriesLBA     uint64
	numEntries     uint32
	entrySize      uint32
	entriesCRC     uint32
}

// GPT header field offsets.
const (
	gptOffHeaderSize  = 12
	gptOffHeaderCRC   = 16
	gptOffMyLBA       = 24
	gptOffAlternate   = 32
	gptOffFirstUsable = 40
	gptOffLastUsable  = 48
	gptOffDiskGUID    = 56
	gptOffEntriesLBA  = 72
	gptOffNumEntries  = 80
	gptOffEntrySize   = 84
	gptOffEntriesCRC  = 88
)

// parseGPTHeader checks a header sector read from LBA lba: signature, size,
// CRC, and that it says it lives at lba.
func parseGPTHeader(b []byte, lba uint64) (gptHeader, error) {
	var h gptHeader
	if len(b) < 92 || string(b[:8]) != "EFI PART" {
		return h, errNoGPT
	}
	h.raw = b
	h.headerSize = binary.LittleEndian.Uint32(b[gptOffHeaderSize:])
	if h.headerSize < 92 || int(h.headerSize) > len(b) {
		return h, fmt.Errorf("GPT header at LBA %d has an impossible size %d: %w", lba, h.headerSize, ErrCorrupt)
	}
	if got, want := headerCRC(b[:h.headerSize]), binary.LittleEndian.Uint32(b[gptOffHeaderCRC:]); got != want {
		return h, fmt.Errorf("GPT header at LBA %d: checksum %08x, stored %08x: %w", lba, got, want, ErrCorrupt)
	}
	h.myLBA = binary.LittleEndian.Uint64(b[gptOffMyLBA:])
	h.alternateLBA = binary.LittleEndian.Uint64(b[gptOffAlternate:])
	h.firstUsableLBA = binary.LittleEndian.Uint64(b[gptOffFirstUsable:])
	h.lastUsableLBA = binary.LittleEndian.Uint64(b[gptOffLastUsable:])
	copy(h.diskGUID[:], b[gptOffDiskGUID:])
	h.entriesLBA = binary.LittleEndian.Uint64(b[gptOffEntriesLBA:])
	h.numEntries = binary.LittleEndian.Uint32(b[gptOffNumEntries:])
	h.entrySize = binary.LittleEndian.Uint32(b[gptOffEntrySize:])
	h.entriesCRC = binary.LittleEndian.Uint32(b[gptOffEntriesCRC:])
	if h.myLBA != lba {
		return h, fmt.Errorf("GPT header at LBA %d says it is at LBA %d: %w", lba, h.myLBA, ErrCorrupt)
	}
	if h.entrySize < 128 || h.entrySize%8 != 0 {
		return h, fmt.Errorf("GPT header at LBA %d: entry size %d is not a multiple of 8 of at least 128: %w", lba, h.entrySize, ErrCorrupt)
	}
	if uint64(h.numEntries)*uint64(h.entrySize) > maxEntryBytes {
		return h, fmt.Errorf("GPT header at LBA %d: %d entries of %d bytes exceed the %d bytes this tool accepts: %w",
			lba, h.numEntries, h.entrySize, maxEntryBytes, ErrCorrupt)
	}
	if es := h.entrySectors(len(b)); h.entriesLBA <= lba && h.entriesLBA+es > lba || h.entriesLBA < 2 {
		return h, fmt.Errorf("GPT header at LBA %d: its entries at LBA %d overlap the header or the MBR: %w", lba, h.entriesLBA, ErrCorrupt)
	}
	if h.firstUsableLBA > h.lastUsableLBA+1 {
		return h, fmt.Errorf("GPT header at LBA %d: first usable LBA %d is past last usable LBA %d: %w",
			lba, h.firstUsableLBA, h.lastUsableLBA, ErrCorrupt)
	}
	return h, nil
}

// headerCRC is the CRC32 of a header with its CRC field taken as zero.
func headerCRC(b []byte) uint32 {
	c := crc32.NewIEEE()
	c.Write(b[:gptOffHeaderCRC])
	c.Write([]byte{0, 0, 0, 0})
	c.Write(b[gptOffHeaderCRC+4:])
	return c.Sum32()
}

// entryBytes is the byte length of the entry array.
func (h gptHeader) entryBytes() int { return int(h.numEntries) * int(h.entrySize) }

// entrySectors is the number of sectors the entry array occupies.
func (h gptHeader) entrySectors(ss int) uint64 {
	return (uint64(h.entryBytes()) + uint64(ss) - 1) / uint64(ss)
}

// readHeaderAndEntries reads and verifies the header at lba and its entries.
func readHeaderAndEntries(r io.ReaderAt, size int64, ss int, lba uint64) (gptHeader, []byte, error) {
	sectors := uint64(size) / uint64(ss)
	if lba >= sectors {
		return gptHeader{}, nil, fmt.Errorf("GPT header LBA %d is past the end of the disk (%d sectors): %w", lba, sectors, ErrCorrupt)
	}
	b := make([]byte, ss)
	if err := readFull(r, b, int64(lba)*int64(ss)); err != nil {
		return gptHeader{}, nil, err
	}
	h, err := parseGPTHeader(b, lba)
	if err != nil {
		return h, nil, err
	}
	if h.entriesLBA >= sectors || h.entrySectors(ss) > sectors-h.entriesLBA {
		return h, nil, fmt.Errorf("GPT entries at LBA %d (%d sectors) run past the end of the disk (%d sectors): %w",
			h.entriesLBA, h.entrySectors(ss), sectors, ErrCorrupt)
	}
	entries := make([]byte, h.entryBytes())
	if err := readFull(r, entries, int64(h.entriesLBA)*int64(ss)); err != nil {
		return h, nil, err
	}
	if got := crc32.ChecksumIEEE(entries); got != h.entriesCRC {
		return h, nil, fmt.Errorf("GPT entries at LBA %d: checksum %08x, header says %08x: %w", h.entriesLBA, got, h.entriesCRC, ErrCorrupt)
	}
	return h, entries, nil
}

// readGPT reads a GPT with sector size ss. It returns errNoGPT when neither
// LBA 1 nor the last sector holds a GPT signature.
func readGPT(r io.ReaderAt, size int64, ss int, m mbrSector) (*Layout, error) {
	sectors := uint64(size) / uint64(ss)
	primary, pEntries, pErr := readHeaderAndEntries(r, size, ss, 1)
	if errors.Is(pErr, errNoGPT) && !m.hasProtective() {
		// Without a protective MBR a GPT only counts if its primary header is
		// there (a stray backup header alone does not make a GPT disk).
		return nil, errNoGPT
	}

	// The backup: where the primary says (a grown disk keeps it at its old
	// end; a damaged primary's word is tried too, the backup's own checks
	// decide), else the last sector.
	backupLBA := sectors - 1
	if primary.alternateLBA < sectors && primary.alternateLBA > 1 {
		backupLBA = primary.alternateLBA
	}
	backup, bEntries, bErr := readHeaderAndEntries(r, size, ss, backupLBA)
	if bErr != nil && backupLBA != sectors-1 {
		backup, bEntries, bErr = readHeaderAndEntries(r, size, ss, sectors-1)
	}
	if errors.Is(pErr, errNoGPT) && errors.Is(bErr, errNoGPT) {
		return nil, errNoGPT
	}

	l := &Layout{Type: TypeGPT, SectorSize: ss, Size: size, Signature: m.signature, Hybrid: m.isHybrid()}
	h, entries := primary, pEntries
	switch {
	case pErr == nil:
		l.PrimaryValid = true
		if bErr != nil {
			l.Warnings = append(l.Warnings, fmt.Sprintf("backup GPT header is missing or damaged (%v); it will be rebuilt from the primary on restore", bErr))
		}
	case bErr == nil:
		h, entries = backup, bEntries
		l.Warnings = append(l.Warnings, fmt.Sprintf("primary GPT header is damaged (%v); using the backup header at LBA %d", pErr, backup.myLBA))
	default:
		return nil, fmt.Errorf("neither GPT header is usable (primary: %v; backup: %v): %w", pErr, bErr, ErrCorrupt)
	}
	if bErr == nil {
		l.BackupValid = true
		l.BackupLBA = backup.myLBA
		l.BackupEntriesLBA = backup.entriesLBA
		if pErr == nil && (backup.numEntries != primary.numEntries || backup.entrySize != primary.entrySize ||
			backup.diskGUID != primary.diskGUID || backup.entriesCRC != primary.entriesCRC) {
			l.Warnings = append(l.Warnings, "backup GPT differs from the primary; the primary is used")
		}
	}

	l.gpt = &gptRaw{header: h, entries: entries}
	l.DiskGUID = guidString(h.diskGUID[:])
	l.FirstUsableLBA = h.firstUsableLBA
	l.LastUsableLBA = h.lastUsableLBA
	l.NumEntries = h.numEntries
	l.EntrySize = h.entrySize
	if h.myLBA == 1 {
		l.AlternateLBA = h.alternateLBA
		l.EntriesLBA = h.entriesLBA
	} else {
		// Working from the backup: describe the primary as it should be.
		l.AlternateLBA = h.myLBA
		l.EntriesLBA = 2
	}
	parts, warns, err := parseGPTEntries(entries, h, ss, sectors)
	if err != nil {
		return nil, err
	}
	l.Partitions = parts
	l.Warnings = append(l.Warnings, warns...)
	l.Warnings = append(l.Warnings, overlapWarnings(parts, ss)...)
	return l, nil
}

// parseGPTEntries turns the entry array into partitions (empty entries are
// skipped; Index is the entry's position + 1, as the kernel numbers them).
func parseGPTEntries(entries []byte, h gptHeader, ss int, sectors uint64) ([]Partition, []string, error) {
	parts := []Partition{}
	var warns []string
	es := int(h.entrySize)
	var zero [16]byte
	for i := 0; i < int(h.numEntries); i++ {
		e := entries[i*es : (i+1)*es]
		if string(e[:16]) == string(zero[:]) {
			continue
		}
		first := binary.LittleEndian.Uint64(e[32:])
		last := binary.LittleEndian.Uint64(e[40:])
		if last < first || last >= 1<<62/uint64(ss) {
			return nil, nil, fmt.Errorf("GPT entry %d: impossible sectors %d..%d: %w", i+1, first, last, ErrCorrupt)
		}
		if first < h.firstUsableLBA || last > h.lastUsableLBA || last >= sectors {
			warns = append(warns, fmt.Sprintf("partition %d (sectors %d..%d) lies outside the usable area %d..%d",
				i+1, first, last, h.firstUsableLBA, h.lastUsableLBA))
		}
		typ := guidString(e[0:16])
		parts = append(parts, Partition{
			Index:      i + 1,
			Start:      int64(first) * int64(ss),
			Size:       int64(last-first+1) * int64(ss),
			Type:       typ,
			TypeName:   gptTypeName(typ),
			GUID:       guidString(e[16:32]),
			Attributes: binary.LittleEndian.Uint64(e[48:]),
			Name:       utf16Name(e[56:128]),
		})
	}
	return parts, warns, nil
}

// utf16Name decodes a NUL-terminated UTF-16LE name.
func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// guidString formats a GPT GUID (mixed endian) in upper case, as sgdisk does.
func guidString(b []byte) string {
	var s [16]byte
	s[0], s[1], s[2], s[3] = b[3], b[2], b[1], b[0]
	s[4], s[5] = b[5], b[4]
	s[6], s[7] = b[7], b[6]
	copy(s[8:], b[8:16])
	h := strings.ToUpper(hex.EncodeToString(s[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// buildGPTHeader returns a copy of hdr (a header sector) moved to myLBA, with
// the given alternate, last-usable and entries LBAs and a fresh CRC. Every
// other byte (disk GUID, entry count, entries CRC, reserved bytes) is kept.
func buildGPTHeader(hdr []byte, myLBA, alternate, lastUsable, entriesLBA uint64) []byte {
	b := append([]byte(nil), hdr...)
	binary.LittleEndian.PutUint64(b[gptOffMyLBA:], myLBA)
	binary.LittleEndian.PutUint64(b[gptOffAlternate:], alternate)
	binary.LittleEndian.PutUint64(b[gptOffLastUsable:], lastUsable)
	binary.LittleEndian.PutUint64(b[gptOffEntriesLBA:], entriesLBA)
	hs := binary.LittleEndian.Uint32(b[gptOffHeaderSize:])
	binary.LittleEndian.PutUint32(b[gptOffHeaderCRC:], headerCRC(b[:hs]))
	return b
}

// gptTypeName names the partition types a PC disk is likely to hold, as
// sgdisk does; "" for others.
func gptTypeName(guid string) string {
	switch guid {
	case "C12A7328-F81F-11D2-BA4B-00A0C93EC93B":
		return "EFI System"
	case "21686148-6449-6E6F-744E-656564454649":
		return "BIOS boot"
	case "024DEE41-33E7-11D3-9D69-0008C781F39F":
		return "MBR partition scheme"
	case "E3C9E316-0B5C-4DB8-817D-F92DF00215AE":
		return "Microsoft reserved"
	case "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7":
		return "Microsoft basic data"
	case "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC":
		return "Windows recovery environment"
	case "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3":
		return "Microsoft LDM metadata"
	case "AF9B60A0-1431-4F62-BC68-3311714A69AD":
		return "Microsoft LDM data"
	case "E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D":
		return "Microsoft Storage Spaces"
	case "0FC63DAF-8483-4772-8E79-3D69D8477DE4":
		return "Linux filesystem"
	case "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F":
		return "Linux swap"
	case "E6D6D379-F507-44C2-A23C-238F2A3DF928":
		return "Linux LVM"
	case "A19D880F-05FC-4D3B-A006-743F0F84911E":
		return "Linux RAID"
	case "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709":
		return "Linux root (x86-64)"
	case "44479540-F297-41B2-9AF7-D131D5F0458A":
		return "Linux root (x86)"
	case "B921B045-1DF0-41C3-AF44-4C6F280D3FAE":
		return "Linux root (ARM-64)"
	case "933AC7E1-2EB4-4F13-B844-0E14E2AEF915":
		return "Linux home"
	case "3B8F8425-20E0-4F3B-907F-1A25A76F98E8":
		return "Linux server data"
	case "BC13C2FF-59E6-4262-A352-B275FD6F7172":
		return "Linux extended boot"
	case "CA7D7CCB-63ED-4C53-861C-1742536059CC":
		return "Linux LUKS"
	case "8DA63339-0007-60C0-C436-083AC8230908":
		return "Linux reserved"
	case "48465300-0000-11AA-AA11-00306543ECAC":
		return "Apple HFS/HFS+"
	case "7C3457EF-0000-11AA-AA11-00306543ECAC":
		return "Apple APFS"
	case "516E7CB4-6ECF-11D6-8FF8-00022D09712B":
		return "FreeBSD disklabel"
	case "83BD6B9D-7F41-11DC-BE0B-001560B84F0F":
		return "FreeBSD boot"
	case "516E7CBA-6ECF-11D6-8FF8-00022D09712B":
		return "FreeBSD ZFS"
	case "6A898CC3-1DD2-11B2-99A6-080020736631":
		return "Solaris /usr & Apple ZFS"
	case "AA31E02A-400F-11DB-9590-000C2911D1B8":
		return "VMware VMFS"
	case "9D275380-40AD-11DB-BF97-000C2911D1B8":
		return "VMware kcore crash protection"
	}
	return ""
}
