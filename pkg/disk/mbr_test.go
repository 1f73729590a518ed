// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

func TestReadLayoutEBRLoop(t *testing.T) {
	p := sfdiskImage(t, 32<<10, fuzzMBRScript)
	// The second EBR (sector 4) links back to the first (sector 2).
	ebr := readRange(t, p, 4*512, 512)
	putMBREntry(ebr, 1, 0x05, 0, 2)
	testutil.PatchFile(t, p, 4*512, ebr)
	l := readImageLayout(t, p)
	var logicals []int
	for _, q := range l.Partitions {
		if q.Logical {
			logicals = append(logicals, q.Index)
		}
	}
	if len(logicals) != 2 || len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "loops back to sector 2") {
		t.Errorf("ReadLayout(EBR loop): logicals %v, warnings %q; want [5 6] and a loop warning", logicals, l.Warnings)
	}
}

func TestReadLayoutManyLogicals(t *testing.T) {
	const ebrs = 300
	d := &memDisk{size: (2*ebrs + 8) * 512}
	mbr := make([]byte, 512)
	putMBREntry(mbr, 0, 0x0f, 2, 2*ebrs+4)
	mbr[510], mbr[511] = 0x55, 0xaa
	d.WriteAt(mbr, 0)
	for i := 0; i < ebrs; i++ {
		e := make([]byte, 512)
		putMBREntry(e, 0, 0x83, 1, 1)
		putMBREntry(e, 1, 0x05, uint32(2*i+2), 2)
		e[510], e[511] = 0x55, 0xaa
		d.WriteAt(e, int64(2+2*i)*512)
	}
	l, err := ReadLayout(d, d.size)
	if err != nil {
		t.Fatalf("ReadLayout(%d logicals) = %v", ebrs, err)
	}
	if got, want := len(l.Partitions), 1+maxLogicals; got != want || len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "more than") {
		t.Errorf("ReadLayout(%d logicals): %d partitions, warnings %q; want %d and a warning", ebrs, got, l.Warnings, want)
	}
	if last := l.Partitions[len(l.Partitions)-1].Index; last != 4+maxLogicals {
		t.Errorf("ReadLayout(%d logicals): last index %d, want %d", ebrs, last, 4+maxLogicals)
	}
	if n := len(l.Regions()); n != 1+maxLogicals {
		t.Errorf("Regions() = %d regions, want the head and %d EBRs", n, maxLogicals)
	}
}
