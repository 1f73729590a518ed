// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import "testing"

func bootSector(fat32 bool, label string) []byte {
	b := make([]byte, 512)
	b[11], b[12] = 0x00, 0x02 // 512 bytes per sector
	b[510], b[511] = 0x55, 0xAA
	if fat32 {
		b[66] = 0x29
		copy(b[71:82], label+"           ")
		copy(b[82:], "FAT32   ")
	} else {
		b[38] = 0x29
		copy(b[43:54], label+"           ")
		copy(b[54:], "FAT16   ")
	}
	return b
}

func TestParseFATLabel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      []byte
		want   string
		wantOK bool
	}{
		{"fat32", bootSector(true, "REWIND"), "REWIND", true},
		{"fat16", bootSector(false, "NO NAME"), "NO NAME", true},
		{"short", make([]byte, 100), "", false},
		{"zeros", make([]byte, 512), "", false},
	} {
		got, ok := parseFATLabel(tc.b)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("parseFATLabel(%s) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

// FuzzParseFATLabel: a boot sector comes from a disk.
func FuzzParseFATLabel(f *testing.F) {
	f.Add(bootSector(true, "REWIND"))
	f.Add(bootSector(false, "X"))
	f.Fuzz(func(t *testing.T, b []byte) { parseFATLabel(b) })
}
