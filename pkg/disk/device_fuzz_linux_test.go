// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// vpdPage80 builds a VPD page 0x80 for serial, padded as devices do.
func vpdPage80(serial, pad string) []byte {
	body := serial + pad
	b := []byte{0, 0x80, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(body)))
	return append(b, body...)
}

// FuzzVPDSerial: whatever a device's VPD page 0x80 holds, the serial read
// from it is printable ASCII without padding, within the page's declared
// length (it goes into manifests, onto the screen and is compared with
// what the technician typed), and a serial padded as devices pad it reads
// back as itself.
func FuzzVPDSerial(f *testing.F) {
	testutil.Seed(f, vpdPage80("S3Z9NB0K123456A", ""), "WD-WCC4E1234567", "    ") // SATA behind SAT
	testutil.Seed(f, vpdPage80("  AB12CD34", "\x00\x00"), "0123456789", "\x00")   // right-justified, NUL-padded
	testutil.Seed(f, []byte{0, 0x80, 0, 2, 'A', 'B', 'C', 'D'}, "X", "")          // page shorter than the file
	testutil.Seed(f, []byte{0, 0x80, 0, 0}, "", "")
	f.Fuzz(func(t *testing.T, page []byte, serial, pad string) {
		got := vpdSerial(page)
		if got != strings.TrimSpace(got) {
			t.Fatalf("vpdSerial(%q) = %q, with white space around it", page, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] > 0x7e {
				t.Fatalf("vpdSerial(%q) = %q, not printable ASCII", page, got)
			}
		}
		if len(page) >= 4 && len(got) > int(binary.BigEndian.Uint16(page[2:])) {
			t.Fatalf("vpdSerial(%q) = %q, longer than the page's %d bytes", page, got, binary.BigEndian.Uint16(page[2:]))
		}
		serial = strings.TrimSpace(serial)
		pad = strings.Map(func(r rune) rune {
			if r == ' ' || r == 0 {
				return r
			}
			return -1
		}, pad)
		for i := 0; i < len(serial); i++ {
			if serial[i] < 0x20 || serial[i] > 0x7e {
				return
			}
		}
		if len(serial)+len(pad) > 0xffff {
			return
		}
		if got := vpdSerial(vpdPage80(serial, pad)); got != serial {
			t.Fatalf("vpdSerial(page of %q padded with %q) = %q", serial, pad, got)
		}
	})
}
