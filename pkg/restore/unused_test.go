// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/repo"
)

func areaPart(off, length int64, used ...repo.Extent) repo.Partition {
	return repo.Partition{Area: repo.Area{Offset: off, Length: length, Used: used}}
}

// TestUnusedRanges: ZeroUnused zeroes only what no partition uses; where
// partitions overlap, one's free space may hold the other's data.
func TestUnusedRanges(t *testing.T) {
	e := func(off, n int64) repo.Extent { return repo.Extent{Off: off, Len: n} }
	for _, tc := range []struct {
		name    string
		parts   []repo.Partition
		want    []repo.Extent
		overlap bool
	}{
		{"one partition, used in the middle", []repo.Partition{areaPart(100, 100, e(10, 20))}, []repo.Extent{e(100, 10), e(130, 70)}, false},
		{"fully used", []repo.Partition{areaPart(0, 50, e(0, 50))}, nil, false},
		{"two apart", []repo.Partition{areaPart(0, 10, e(0, 5)), areaPart(20, 10, e(5, 5))}, []repo.Extent{e(5, 5), e(20, 5)}, false},
		{"adjacent, used across the boundary", []repo.Partition{areaPart(0, 10, e(5, 5)), areaPart(10, 10, e(0, 5))}, []repo.Extent{e(0, 5), e(15, 5)}, false},
		{"second inside the first, its data in the first's free space", []repo.Partition{areaPart(0, 100, e(0, 10)), areaPart(40, 20, e(0, 20))}, []repo.Extent{e(10, 30), e(60, 40)}, true},
		{"overlapping tails", []repo.Partition{areaPart(0, 60, e(50, 10)), areaPart(40, 60, e(0, 5))}, []repo.Extent{e(0, 40), e(45, 5), e(60, 40)}, true},
		{"empty partition", []repo.Partition{areaPart(0, 0)}, nil, false},
	} {
		d := &repo.Disk{Partitions: tc.parts}
		if diff := cmp.Diff(tc.want, unusedRanges(d)); diff != "" {
			t.Errorf("%s: unusedRanges mismatch (-want +got):\n%s", tc.name, diff)
		}
		if got := overlapping(d); got != tc.overlap {
			t.Errorf("%s: overlapping = %v, want %v", tc.name, got, tc.overlap)
		}
	}
}
