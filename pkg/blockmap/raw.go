// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// isEncrypted recognises the headers of LUKS and BitLocker volumes.
func isEncrypted(h []byte) bool {
	return bytes.HasPrefix(h, []byte("LUKS\xba\xbe")) || bytes.Equal(h[3:11], []byte("-FVE-FS-"))
}

// identifyOther names the filesystems and containers that are imaged raw,
// and says why, from the first headSize bytes of a partition.
func identifyOther(h []byte) Summary {
	s := Summary{Clean: true}
	switch {
	case bytes.HasPrefix(h, []byte("LUKS\xba\xbe")):
		s.FS = "luks"
		s.UUID = cString(h[168 : 168+40])
		s.Reason = "LUKS-encrypted: which blocks are free cannot be seen without the key, so every block is imaged"
	case bytes.Equal(h[3:11], []byte("-FVE-FS-")):
		s.FS = "bitlocker"
		s.Reason = "BitLocker-encrypted: which blocks are free cannot be seen without the key, so every block is imaged"
	case bytes.Equal(h[0:4], []byte("XFSB")):
		s.FS = "xfs"
		s.BlockSize = int64(binary.BigEndian.Uint32(h[4:8]))
		s.UUID = formatUUID(h[32:48])
		s.Label = cString(h[108:120])
		s.Reason = "XFS: used-block maps are not supported yet, so every block is imaged"
	case bytes.Equal(h[0x10040:0x10048], []byte("_BHRfS_M")):
		s.FS = "btrfs"
		s.UUID = formatUUID(h[0x10020:0x10030])
		s.Label = cString(h[0x1012b : 0x1012b+256])
		s.Reason = "btrfs: used-block maps are not supported yet, so every block is imaged"
	case isHibernatedSwap(h):
		s.FS = "swap"
		s.Reason = "Linux swap holding a hibernation image (the machine was hibernated, not shut down): every block is imaged so that it can resume"
	case bytes.Equal(h[3:11], []byte("EXFAT   ")):
		s.FS = "exfat"
		s.Reason = "exFAT: used-block maps are not supported yet, so every block is imaged"
	case bytes.Equal(h[3:7], []byte("ReFS")):
		s.FS = "refs"
		s.Reason = "ReFS: used-block maps are not supported, so every block is imaged"
	case bytes.Equal(h[512:520], []byte("LABELONE")):
		s.FS = "lvm2"
		s.Reason = "LVM physical volume: its logical volumes are not mapped yet, so every block is imaged"
	case binary.LittleEndian.Uint32(h[4096:]) == 0xa92b4efc || binary.LittleEndian.Uint32(h[0:]) == 0xa92b4efc:
		s.FS = "linux_raid_member"
		s.Reason = "Linux software-RAID member: every block is imaged"
	case bytes.Equal(h[1024:1026], []byte("H+")) || bytes.Equal(h[1024:1026], []byte("HX")):
		s.FS = "hfsplus"
		s.Reason = "HFS+: used-block maps are not supported, so every block is imaged"
	case bytes.Equal(h[32:36], []byte("NXSB")):
		s.FS = "apfs"
		s.Reason = "APFS: used-block maps are not supported, so every block is imaged"
	case bytes.Equal(h[0x8001:0x8006], []byte("CD001")):
		s.FS = "iso9660"
		s.Reason = "ISO 9660 image: every block is imaged"
	case allZero(h):
		s.Reason = "no filesystem found (the first 68 KiB are zeros), so every block is imaged"
	default:
		s.Reason = "no known filesystem found, so every block is imaged"
	}
	return s
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// cString returns b up to its first NUL, with trailing spaces removed and
// anything that is not printable replaced.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	return strings.TrimRight(s, " ")
}

// formatUUID formats 16 bytes in the usual 8-4-4-4-12 form, or returns ""
// when they are all zero.
func formatUUID(b []byte) string {
	if allZero(b) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
