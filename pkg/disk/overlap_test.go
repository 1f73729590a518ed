// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"strings"
	"testing"
)

// overlapImage makes a 32 MiB image with sfdisk (which refuses overlaps)
// holding partitions 1 at sector 2048 and 2 at 22528, 20480 sectors each,
// then moves partition 2's start back to sector 12288 in the table's own
// bytes, so that the two share 10240 sectors.
func overlapImage(t *testing.T, label string) string {
	t.Helper()
	img := sfdiskImage(t, 32*mib, "label: "+label+"\nstart=2048, size=20480, type=L\nstart=22528, size=20480, type=L\n")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	switch label {
	case "dos":
		e := b[446+16:]
		binary.LittleEndian.PutUint32(e[8:], 12288)
		binary.LittleEndian.PutUint32(e[12:], 30720)
	case "gpt":
		// Entry 2 (128 bytes) in the primary array at LBA 2 and in the
		// backup's; then the entry and header CRCs of both headers.
		for _, hdrLBA := range []int64{1, int64(len(b))/512 - 1} {
			hdr := b[hdrLBA*512 : hdrLBA*512+512]
			if string(hdr[:8]) != "EFI PART" {
				t.Fatalf("no GPT header at LBA %d", hdrLBA)
			}
			at := int64(binary.LittleEndian.Uint64(hdr[gptOffEntriesLBA:])) * 512
			n, size := binary.LittleEndian.Uint32(hdr[gptOffNumEntries:]), binary.LittleEndian.Uint32(hdr[gptOffEntrySize:])
			entries := b[at : at+int64(n)*int64(size)]
			binary.LittleEndian.PutUint64(entries[size+32:], 12288) // first LBA of entry 2
			binary.LittleEndian.PutUint32(hdr[gptOffEntriesCRC:], crc32.ChecksumIEEE(entries))
			hs := binary.LittleEndian.Uint32(hdr[gptOffHeaderSize:])
			binary.LittleEndian.PutUint32(hdr[gptOffHeaderCRC:], headerCRC(hdr[:hs]))
		}
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestOverlappingPartitions: a GPT or MBR whose partitions overlap is read
// as it is, with a warning naming them, and written back byte for byte.
func TestOverlappingPartitions(t *testing.T) {
	for _, label := range []string{"dos", "gpt"} {
		t.Run(label, func(t *testing.T) {
			img := overlapImage(t, label)
			l := readImageLayout(t, img)
			if len(l.Partitions) != 2 || l.Partitions[1].Start != 12288*512 || l.Partitions[0].End() != 22528*512 {
				t.Fatalf("ReadLayout(%s with overlap) partitions = %+v, want 2, the second at sector 12288", label, l.Partitions)
			}
			want := "partitions 1 and 2 overlap (sectors 12288..22527, 5242880 bytes)"
			if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], want) {
				t.Fatalf("ReadLayout(%s with overlap) warnings = %q, want one saying %q", label, l.Warnings, want)
			}

			// Written onto a blank disk of the same size: the same table bytes.
			src, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			saved, err := CaptureRegions(context.Background(), src, l)
			if err != nil {
				t.Fatal(err)
			}
			dst := sparseFile(t, "target.img", 32*mib)
			w, err := os.OpenFile(dst, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := WriteTable(context.Background(), w, 32*mib, saved, l); err != nil {
				t.Fatalf("WriteTable(%s with overlap) = %v", label, err)
			}
			for _, r := range l.Regions() {
				if got, want := readRange(t, dst, r.Offset, r.Length), readRange(t, img, r.Offset, r.Length); !bytes.Equal(got, want) {
					t.Errorf("%s region %d+%d differs after WriteTable", label, r.Offset, r.Length)
				}
			}
			again := readImageLayout(t, dst)
			if len(again.Partitions) != 2 || again.Partitions[1].Start != l.Partitions[1].Start || len(again.Warnings) != 1 {
				t.Errorf("the written table reads as %+v, warnings %q; want the same overlap", again.Partitions, again.Warnings)
			}
		})
	}
}

// TestOverlapWarningsBounded: a table of many overlapping entries gives a
// bounded number of warnings.
func TestOverlapWarningsBounded(t *testing.T) {
	var parts []Partition
	for i := range 100 {
		parts = append(parts, Partition{Index: i + 1, Start: int64(i) * 512, Size: 1 << 20})
	}
	got := overlapWarnings(parts, 512)
	if len(got) != maxOverlapWarnings+1 || !strings.Contains(got[len(got)-1], "more pairs") {
		t.Errorf("overlapWarnings(100 overlapping) = %d warnings (%q), want %d and a count of the rest", len(got), got[len(got)-1], maxOverlapWarnings+1)
	}
	if w := overlapWarnings([]Partition{{Index: 1, Start: 0, Size: 1 << 20, Extended: true}, {Index: 5, Start: 512, Size: 1024, Logical: true}}, 512); len(w) != 0 {
		t.Errorf("overlapWarnings(extended container and its logical) = %q, want none", w)
	}
}
