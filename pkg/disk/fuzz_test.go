// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// memDisk is a sparse in-memory disk: writes are kept as regions, later ones
// winning, and everything else reads as zeros. Only written bytes take memory.
type memDisk struct {
	size   int64
	writes []SavedRegion
}

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > m.size {
		return 0, ErrOutOfRange
	}
	m.writes = append(m.writes, SavedRegion{Region: Region{Offset: off, Length: int64(len(p))}, Data: append([]byte(nil), p...)})
	return len(p), nil
}

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	return savedDisk{size: m.size, regions: m.writes}.ReadAt(p, off)
}

// fuzzDisk turns fuzz input into a disk: head at offset 0, tail at the end,
// zeros between, sectors × sector size bytes in all (at least enough to hold
// head and tail; at most 2 TiB, which costs nothing as the disk is sparse).
func fuzzDisk(head, tail []byte, sectors uint32, big bool) (*memDisk, int) {
	ss := 512
	if big {
		ss = 4096
	}
	size := int64(sectors) * int64(ss)
	if min := int64(len(head)+len(tail)+ss-1) / int64(ss) * int64(ss); size < min {
		size = min
	}
	if size < 1024 {
		size = 1024
	}
	d := &memDisk{size: size}
	d.WriteAt(head, 0)
	d.WriteAt(tail, size-int64(len(tail)))
	return d, ss
}

// imageSeed returns the first and last bytes of an sfdisk-made image.
func imageSeed(t testing.TB, size int64, script string, headLen, tailLen int64) (head, tail []byte) {
	p := sfdiskImage(t, size, script)
	return readRange(t, p, 0, headLen), readRange(t, p, size-tailLen, tailLen)
}

// Compact real tables for the fuzzer's seeds (32 KiB images, of which the
// seeds take the table sectors only), so that inputs stay small and
// minimizing them is quick.
const (
	fuzzGPTScript = `label: gpt
label-id: 3F2504E0-4F89-11D3-9A0C-0305E82C3301
table-length: 4
first-lba: 6
start=6, size=8, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=11111111-2222-3333-4444-555555555501, name="EFI", attrs="RequiredPartition"
start=14, size=8, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-3333-4444-555555555502
`
	fuzzMBRScript = `label: dos
label-id: 0x12345678
start=2, size=6, type=5
start=8, size=4, type=83, bootable
start=3, size=1, type=83
start=5, size=2, type=82
`
)

func FuzzReadLayout(f *testing.F) {
	const size = 32 << 10
	gpt, _ := imageSeed(f, size, fuzzGPTScript, size, 0)
	testutil.Seed(f, gpt[:3*512], gpt[size-5*512:], uint32(size/512), false)                        // the table only
	testutil.Seed(f, gpt[:3*512], []byte{}, uint32(size/512), false)                                // no backup
	testutil.Seed(f, gpt[:512], gpt[size-5*512:], uint32(size/512), false)                          // no primary
	testutil.Seed(f, gpt[:512], gpt[size-5*512:], uint32(1<<31), false)                             // backup not at the end
	testutil.Seed(f, gpt[:512], append(make([]byte, 4096-512), gpt[512:1024]...), uint32(16), true) // 4Kn-like
	mbr, _ := imageSeed(f, size, fuzzMBRScript, size, 0)
	testutil.Seed(f, mbr[:5*512], []byte{}, uint32(size/512), false)
	// The MBR's extended chain made to loop back onto its first EBR.
	loop := append([]byte(nil), mbr[:5*512]...)
	putMBREntry(loop[4*512:], 1, 0x05, 0, 2)
	testutil.Seed(f, loop, []byte{}, uint32(size/512), false)

	f.Fuzz(func(t *testing.T, head, tail []byte, sectors uint32, big bool) {
		if len(head) > 1<<20 || len(tail) > 1<<20 {
			return
		}
		d, ss := fuzzDisk(head, tail, sectors, big)
		if sectors&1 != 0 {
			// Odd sector counts get their GPT checksums fixed up, so that the
			// fuzzer explores what lies behind them.
			fixGPTChecksums(d, ss)
		}
		l, err := ReadLayoutSectorSize(d, d.size, ss*boolInt(big))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
				// Every parse error is ErrCorrupt or a short read.
				t.Fatalf("ReadLayout error %v is neither ErrCorrupt nor a read error", err)
			}
			return
		}
		var total int64
		for _, r := range l.Regions() {
			if r.Offset < 0 || r.Length <= 0 || r.Offset+r.Length > l.Size {
				t.Fatalf("Regions() = %+v: region outside the %d-byte disk", l.Regions(), l.Size)
			}
			total += r.Length
		}
		if total > MaxHeadArea+2*maxEntryBytes+int64(len(l.EBRs)+2)*int64(l.SectorSize) {
			t.Fatalf("Regions() total %d bytes, more than the bound", total)
		}
		if l.Type == TypeNone {
			return
		}
		ctx := context.Background()
		saved, err := CaptureRegions(ctx, d, l)
		if err != nil {
			t.Fatalf("CaptureRegions: %v", err)
		}
		for _, target := range []int64{l.Size, l.Size + 1<<20} {
			w := &memDisk{size: target}
			err := WriteTable(ctx, w, target, saved, l)
			if errors.Is(err, ErrTooSmall) {
				continue
			}
			if err != nil {
				t.Fatalf("WriteTable(%d bytes) = %v", target, err)
			}
			got, err := ReadLayoutSectorSize(w, target, l.SectorSize)
			if err != nil {
				t.Fatalf("ReadLayout after WriteTable(%d bytes) = %v", target, err)
			}
			if got.Type != l.Type || got.DiskGUID != l.DiskGUID {
				t.Fatalf("after WriteTable(%d bytes): %s %s, want %s %s", target, got.Type, got.DiskGUID, l.Type, l.DiskGUID)
			}
			if diff := cmp.Diff(l.Partitions, got.Partitions); diff != "" {
				t.Fatalf("after WriteTable(%d bytes) partitions differ (-captured +restored):\n%s", target, diff)
			}
			if l.Type == TypeGPT && (!got.PrimaryValid || !got.BackupValid) {
				t.Fatalf("after WriteTable(%d bytes): GPT headers valid %v/%v, want both", target, got.PrimaryValid, got.BackupValid)
			}
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func putMBREntry(sector []byte, i int, typ byte, start, count uint32) {
	e := sector[446+16*i:]
	e[4] = typ
	e[8], e[9], e[10], e[11] = byte(start), byte(start>>8), byte(start>>16), byte(start>>24)
	e[12], e[13], e[14], e[15] = byte(count), byte(count>>8), byte(count>>16), byte(count>>24)
}

// fixGPTChecksums recomputes the entries and header CRCs of GPT headers at
// LBA 1 and in the last sector of d, wherever they have the signature.
func fixGPTChecksums(d *memDisk, ss int) {
	for _, lba := range []int64{1, d.size/int64(ss) - 1} {
		hdr := make([]byte, ss)
		if _, err := d.ReadAt(hdr, lba*int64(ss)); err != nil || string(hdr[:8]) != "EFI PART" {
			continue
		}
		hs := binary.LittleEndian.Uint32(hdr[gptOffHeaderSize:])
		n, size := binary.LittleEndian.Uint32(hdr[gptOffNumEntries:]), binary.LittleEndian.Uint32(hdr[gptOffEntrySize:])
		at := binary.LittleEndian.Uint64(hdr[gptOffEntriesLBA:])
		if hs < 92 || int(hs) > ss || uint64(n)*uint64(size) > maxEntryBytes || at > uint64(d.size) {
			continue
		}
		entries := make([]byte, int(n)*int(size))
		d.ReadAt(entries, int64(at)*int64(ss))
		binary.LittleEndian.PutUint32(hdr[gptOffEntriesCRC:], crc32.ChecksumIEEE(entries))
		binary.LittleEndian.PutUint32(hdr[gptOffHeaderCRC:], headerCRC(hdr[:hs]))
		d.WriteAt(hdr, lba*int64(ss))
	}
}

// savedTable is what a manifest holds for a disk's table.
type savedTable struct {
	Layout *Layout       `json:"layout"`
	Saved  []SavedRegion `json:"saved"`
}

// FuzzWriteTable feeds WriteTable a manifest's table (JSON, as untrusted as
// anything read from a NAS) and a target size: it must never panic, and a
// table it writes must read back as the layout it was given.
func FuzzWriteTable(f *testing.F) {
	const size = 32 << 10
	for _, script := range []string{fuzzGPTScript, fuzzMBRScript} {
		p := sfdiskImage(f, size, script)
		l := readImageLayout(f, p)
		saved, err := CaptureRegions(context.Background(), readerOf(f, p), l)
		if err != nil {
			f.Fatal(err)
		}
		b, err := json.Marshal(savedTable{l, saved})
		if err != nil {
			f.Fatal(err)
		}
		testutil.Seed(f, b, int64(size))
		testutil.Seed(f, b, int64(size*2))
		testutil.Seed(f, b, int64(size/2))
	}
	f.Fuzz(func(t *testing.T, manifest []byte, target int64) {
		var m savedTable
		if json.Unmarshal(manifest, &m) != nil || m.Layout == nil {
			return
		}
		if target < 0 || target > 1<<50 {
			return
		}
		w := &memDisk{size: target}
		if err := WriteTable(context.Background(), w, target, m.Saved, m.Layout); err != nil {
			return
		}
		got, err := ReadLayoutSectorSize(w, target, m.Layout.SectorSize)
		if err != nil {
			t.Fatalf("ReadLayout after WriteTable(%d bytes) = %v", target, err)
		}
		if got.Type != m.Layout.Type || !cmp.Equal(got.Partitions, m.Layout.Partitions, cmpopts.EquateEmpty()) {
			t.Fatalf("after WriteTable(%d bytes): %s %+v, want %s %+v", target, got.Type, got.Partitions, m.Layout.Type, m.Layout.Partitions)
		}
	})
}

// FuzzLayoutFromSaved feeds LayoutFromSaved the saved regions of a manifest
// (JSON, as untrusted as anything read from a NAS), a disk size and a
// sector size. It must not panic; a layout it accepts warns about every
// partition reaching past the disk's end and, captured again from the regions it was read from, reads back the same
// (but for warnings about a damaged backup GPT, which is not captured).
func FuzzLayoutFromSaved(f *testing.F) {
	const size = 32 << 10
	for _, script := range []string{fuzzGPTScript, fuzzMBRScript} {
		p := sfdiskImage(f, size, script)
		l := readImageLayout(f, p)
		saved, err := CaptureRegions(context.Background(), readerOf(f, p), l)
		if err != nil {
			f.Fatal(err)
		}
		b, err := json.Marshal(saved)
		if err != nil {
			f.Fatal(err)
		}
		testutil.Seed(f, b, int64(size), uint32(l.SectorSize))
		testutil.Seed(f, b, int64(size), uint32(0))
	}
	f.Fuzz(func(t *testing.T, savedJSON []byte, size int64, sectorSize uint32) {
		var saved []SavedRegion
		if json.Unmarshal(savedJSON, &saved) != nil {
			return
		}
		l, err := LayoutFromSaved(saved, size, int(sectorSize))
		if err != nil {
			return
		}
		if l.Size != size {
			t.Fatalf("LayoutFromSaved(%d-byte disk) = a %d-byte layout", size, l.Size)
		}
		for _, p := range l.Partitions {
			if p.Start < 0 || p.Size < 0 {
				t.Fatalf("partition %+v has a negative start or size", p)
			}
			// A table may name sectors the disk lacks (a truncated image,
			// a dd to a smaller disk); ReadLayout keeps such a partition, as
			// the kernel does, and must say so. capture refuses to image it.
			if p.End() > size && !warnsAbout(l.Warnings, p.Index) {
				t.Fatalf("partition %+v lies outside the %d-byte disk without a warning (warnings %q)", p, size, l.Warnings)
			}
		}
		again, err := CaptureRegions(context.Background(), savedDisk{size: size, regions: saved}, l)
		if err != nil {
			t.Fatalf("CaptureRegions of the layout LayoutFromSaved read: %v", err)
		}
		l2, err := LayoutFromSaved(again, size, int(sectorSize))
		if err != nil {
			t.Fatalf("LayoutFromSaved of its own regions captured again: %v", err)
		}
		// The parsed GPT headers count too; the warnings may not: a damaged
		// backup is not among the regions captured again.
		all := cmp.Exporter(func(reflect.Type) bool { return true })
		if diff := cmp.Diff(l, l2, cmpopts.EquateEmpty(), all, cmpopts.IgnoreFields(Layout{}, "Warnings")); diff != "" {
			t.Fatalf("captured again, the layout reads differently (-first +again):\n%s", diff)
		}
	})
}

// warnsAbout reports whether one of warns is about partition idx.
func warnsAbout(warns []string, idx int) bool {
	for _, w := range warns {
		if strings.HasPrefix(w, fmt.Sprintf("partition %d (", idx)) {
			return true
		}
	}
	return false
}
