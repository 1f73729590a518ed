// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExtents(t *testing.T) {
	tests := []struct {
		name  string
		limit int64
		add   []Extent
		want  []Extent
	}{
		{"empty", 100, nil, nil},
		{"touching merge", 100, []Extent{{0, 10}, {10, 5}, {20, 5}}, []Extent{{0, 15}, {20, 5}}},
		{"overlap merge", 100, []Extent{{10, 10}, {15, 10}, {12, 2}}, []Extent{{10, 15}}},
		{"unsorted", 100, []Extent{{50, 10}, {0, 10}, {55, 20}, {10, 1}}, []Extent{{0, 11}, {50, 25}}},
		{"clipped to limit", 100, []Extent{{90, 20}, {100, 5}, {-5, 3}}, []Extent{{90, 10}}},
		{"zero and negative lengths", 100, []Extent{{5, 0}, {6, -3}}, nil},
	}
	for _, tc := range tests {
		x := newExtents(tc.limit)
		for _, e := range tc.add {
			x.add(e.Off, e.Len)
		}
		got, used := x.result()
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("extents(%s) (-want +got):\n%s", tc.name, diff)
		}
		var want int64
		for _, e := range tc.want {
			want += e.Len
		}
		if used != want {
			t.Errorf("extents(%s) used = %d, want %d", tc.name, used, want)
		}
	}
}

// TestExtentsCompact checks that a map with more runs than maxExtents is
// coarsened, never shrunk: every added byte stays covered.
func TestExtentsCompact(t *testing.T) {
	x := newExtents(1 << 40)
	x.max = 1000
	for i := int64(0); i < 5000; i++ {
		x.add(i*8192, 4096) // every other 4 KiB
	}
	x.add(3, 1) // out of order
	got, used := x.result()
	if !x.coarse() || len(got) > x.max {
		t.Fatalf("compacted to %d extents (coarse %v), want at most %d", len(got), x.coarse(), x.max)
	}
	for i := int64(0); i < 5000; i++ {
		off := i * 8192
		covered := false
		for _, e := range got {
			if off >= e.Off && off+4096 <= e.End() {
				covered = true
			}
		}
		if !covered {
			t.Fatalf("byte range [%d,%d) was added but is not covered after compaction", off, off+4096)
		}
	}
	if used < 5000*4096 {
		t.Errorf("used = %d, want at least %d", used, 5000*4096)
	}
}

func TestAddBitmapRuns(t *testing.T) {
	tests := []struct {
		bm    []byte
		nbits int64
		want  []Extent
	}{
		{[]byte{0x00, 0x00}, 16, nil},
		{[]byte{0xff, 0xff}, 16, []Extent{{0, 16}}},
		{[]byte{0xff, 0xff}, 12, []Extent{{0, 12}}},
		{[]byte{0x01, 0x80}, 16, []Extent{{0, 1}, {15, 1}}},
		{[]byte{0xf0, 0x0f}, 16, []Extent{{4, 8}}},
		{[]byte{0xaa}, 8, []Extent{{1, 1}, {3, 1}, {5, 1}, {7, 1}}},
		{[]byte{0xff}, 100, []Extent{{0, 8}}}, // nbits past the bitmap
	}
	for _, tc := range tests {
		x := newExtents(1 << 20)
		addBitmapRuns(x, tc.bm, tc.nbits, 0, 1, 0)
		got, _ := x.result()
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("addBitmapRuns(%x, %d) (-want +got):\n%s", tc.bm, tc.nbits, diff)
		}
	}
}
