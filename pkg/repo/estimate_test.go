// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"encoding/json"
	"testing"

	"github.com/rewind-backup/rewind/pkg/chunk"
)

func TestPlannedChunks(t *testing.T) {
	const cs = 100
	for _, tc := range []struct {
		name string
		used []Extent
		want int64
	}{
		{"none", nil, 0},
		{"inside one chunk", []Extent{{10, 20}}, 1},
		{"one whole chunk", []Extent{{100, 100}}, 1},
		{"across a boundary", []Extent{{90, 20}}, 2},
		{"two extents in one chunk", []Extent{{10, 5}, {50, 5}}, 1},
		{"second extent starts in the first's last chunk", []Extent{{0, 150}, {160, 100}}, 3},
		{"far apart", []Extent{{0, 1}, {1000, 1}}, 2},
		{"empty extent", []Extent{{0, 0}, {500, 1}}, 1},
	} {
		a := Area{Length: 10000, Used: tc.used}
		if got := a.plannedChunks(cs); got != tc.want {
			t.Errorf("%s: plannedChunks(%v) = %d, want %d", tc.name, tc.used, got, tc.want)
		}
	}
}

// TestEstimateSizeBoundsTheManifest: the estimate a capture refuses by is
// never below the size of the snapshot it stores.
func TestEstimateSizeBoundsTheManifest(t *testing.T) {
	const cs = 64 << 10
	a := Area{Offset: 1 << 20, Length: 1 << 30}
	for i := int64(0); i < 2000; i++ {
		a.Used = append(a.Used, Extent{Off: i * 3 * cs / 2, Len: cs / 3})
	}
	img := &Image{ChunkSize: cs, Disks: []Disk{{Partitions: []Partition{{Area: a}}}}}
	est := img.EstimateSize(false)
	p := &img.Disks[0].Partitions[0].Area
	for _, e := range p.Used {
		for i := e.Off / cs; i <= (e.End()-1)/cs; i++ {
			if n := len(p.Chunks); n > 0 && p.Chunks[n-1].I == i {
				continue
			}
			var id chunk.ID
			id[0] = byte(i)
			p.Chunks = append(p.Chunks, ChunkRef{I: i, ID: id, Pack: 1 << 30, Off: 1<<32 - 1, Len: 1<<24 + 9})
		}
	}
	s := &Snapshot{Kind: KindImage, Machine: "ws1", Image: img}
	b, err := json.Marshal(s) // as SaveSnapshot encodes it
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) > est {
		t.Errorf("EstimateSize = %d, but the snapshot takes %d bytes", est, len(b))
	}
	// Format 2: the chunk lists are in packs, the snapshot names the packs
	// (one per MiB of used data at the very least).
	p.UsedBytes = Size(p.Used)
	for range p.UsedBytes>>20 + 1 {
		img.Packs = append(img.Packs, chunk.ID{})
	}
	img.Lists = make([]ListRef, len(p.Chunks)*60/listBlobSize+1)
	b, err = json.Marshal(s.withoutChunks())
	if err != nil {
		t.Fatal(err)
	}
	if est := img.EstimateSize(true); int64(len(b)) > est {
		t.Errorf("EstimateSize(listed) = %d, but the snapshot takes %d bytes", est, len(b))
	}
	if int64(len(p.Chunks)) != p.plannedChunks(cs) {
		t.Errorf("plannedChunks = %d, the capture lists %d", p.plannedChunks(cs), len(p.Chunks))
	}
}
