// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"fmt"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
	"github.com/google/go-cmp/cmp"
)

// TestReadLayoutMatchesGoDiskfs reads the same tables with
// github.com/diskfs/go-diskfs, an independent reader, and compares what both
// understand: GPT partitions with their GUIDs, names and attributes, and the
// MBR's primary entries. rewind keeps its own parser because it must round
// trip every byte of a table and follow EBR chains, which go-diskfs does not;
// this test keeps the two honest with each other.
func TestReadLayoutMatchesGoDiskfs(t *testing.T) {
	type entry struct {
		Start, Size int64
		Type, GUID  string
		Name        string
		Attributes  uint64
		Bootable    bool
	}
	for _, tc := range []struct {
		name   string
		size   int64
		script string
	}{
		{"gpt-ten-partitions", 40 * mib, gptScript},
		{"mbr-primaries", 24 * mib, mbrScript},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := sfdiskImage(t, tc.size, tc.script)
			ours := readImageLayout(t, p)

			d, err := diskfs.Open(p, diskfs.WithOpenMode(diskfs.ReadOnly))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			pt, err := d.GetPartitionTable()
			if err != nil {
				t.Fatalf("go-diskfs: %v", err)
			}
			var want, got []entry
			switch tab := pt.(type) {
			case *gpt.Table:
				if !strings.EqualFold(tab.GUID, ours.DiskGUID) {
					t.Errorf("disk GUID: go-diskfs %s, ReadLayout %s", tab.GUID, ours.DiskGUID)
				}
				for _, q := range tab.Partitions {
					if q.Type == gpt.Unused {
						continue
					}
					want = append(want, entry{int64(q.Start) * 512, int64(q.Size), strings.ToUpper(string(q.Type)), strings.ToUpper(q.GUID), q.Name, q.Attributes, false})
				}
				for _, q := range ours.Partitions {
					got = append(got, entry{q.Start, q.Size, strings.ToUpper(q.Type), strings.ToUpper(q.GUID), q.Name, q.Attributes, false})
				}
			case *mbr.Table:
				for _, q := range tab.Partitions {
					if q.Type == mbr.Empty {
						continue
					}
					want = append(want, entry{int64(q.Start) * 512, int64(q.Size) * 512, fmt.Sprintf("0x%02x", byte(q.Type)), "", "", 0, q.Bootable})
				}
				for _, q := range ours.Partitions {
					if !q.Logical { // go-diskfs reads the four primary entries only
						got = append(got, entry{q.Start, q.Size, q.Type, "", "", 0, q.Bootable})
					}
				}
			default:
				t.Fatalf("go-diskfs read a %T", pt)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ReadLayout(%s) differs from go-diskfs (-go-diskfs +ReadLayout):\n%s", tc.name, diff)
			}
		})
	}
}
