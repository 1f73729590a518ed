// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"encoding/binary"
	"strings"
)

// parseFATLabel returns the volume label in a FAT12/16/32 boot sector, and
// whether the sector is one.
func parseFATLabel(b []byte) (string, bool) {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return "", false
	}
	bps := binary.LittleEndian.Uint16(b[11:])
	if bps != 512 && bps != 1024 && bps != 2048 && bps != 4096 {
		return "", false
	}
	var sig, lbl []byte
	switch {
	case string(b[82:87]) == "FAT32":
		sig, lbl = b[66:67], b[71:82]
	case string(b[54:57]) == "FAT":
		sig, lbl = b[38:39], b[43:54]
	default:
		return "", false
	}
	if sig[0] != 0x29 {
		return "", true
	}
	return strings.TrimRight(string(lbl), " \x00"), true
}
