// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// listsImage is an image skeleton of two disks and four areas, whose
// chunk lists the tests fill in.
func listsImage() *Image {
	area := func(off, n int64) Area {
		return Area{Offset: off, Length: n, Used: []Extent{{0, n}}, UsedBytes: n}
	}
	return &Image{ChunkSize: testChunk, Packs: make([]ID, 3), Disks: []Disk{
		{Name: "sda", Size: 64 << 20, SectorSize: 512, Table: "gpt", Boot: []Area{area(0, 1<<20)},
			Partitions: []Partition{{Index: 1, Mode: "used-blocks", Area: area(1<<20, 8*testChunk+100)}}},
		{Name: "sdb", Size: 64 << 20, SectorSize: 512, Table: "none",
			Partitions: []Partition{{Index: 0, Mode: "raw", Area: area(0, 3*testChunk)}}},
	}}
}

func encodeAll(t testing.TB, img *Image) []byte {
	var b bytes.Buffer
	if err := encodeLists(img, func(p []byte) error { b.Write(p); return nil }); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestListsRoundTrip: a real image's lists, stored and loaded through a
// repository, come back as they were, zero chunks' ids included.
func TestListsRoundTrip(t *testing.T) {
	r, _ := newRepoV(t, 2)
	ps := pieces(31, 6)
	ps[3] = make([]byte, testChunk)
	s := storeImage(t, r, "ws1", ps)
	got, err := r.LoadSnapshot(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Image.Lists) == 0 {
		t.Fatalf("a format-2 snapshot names no chunk lists")
	}
	if diff := cmp.Diff(s.Image.Disks, got.Image.Disks); diff != "" {
		t.Errorf("loaded areas differ from the saved (-saved +loaded):\n%s", diff)
	}
}

// FuzzChunkLists: any bytes are decoded into the skeleton's areas without
// panic and within the bounds; what decodes re-encodes to a stream that
// decodes to the same lists.
func FuzzChunkLists(f *testing.F) {
	img := listsImage()
	for _, a := range listAreas(img) {
		for i := int64(0); i*testChunk < a.Length; i++ {
			c := ChunkRef{I: i, Pack: int32(1 + i%3), Off: uint32(i * 1000), Len: 60000}
			c.ID[0] = byte(i)
			if i == 2 {
				c = ChunkRef{I: i, Zero: true}
			}
			a.Chunks = append(a.Chunks, c)
		}
	}
	good := encodeAll(f, img)
	testutil.Seed(f, good)
	testutil.Seed(f, good[:len(good)/2])
	testutil.Seed(f, []byte("RWL1\x01\xff\xff\xff\xff\x0f\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := listsImage()
		if err := decodeLists(img, bytes.NewReader(data)); err != nil {
			return
		}
		var n int
		for _, a := range listAreas(img) {
			n += len(a.Chunks)
			for _, c := range a.Chunks {
				if c.I < 0 || c.I >= maxChunksPerArea {
					t.Fatalf("decoded chunk index %d", c.I)
				}
			}
		}
		if n > MaxImageChunks {
			t.Fatalf("decoded %d chunks, more than an image may have", n)
		}
		again := listsImage()
		if err := decodeLists(again, bytes.NewReader(encodeAll(t, img))); err != nil {
			t.Fatalf("re-encoded lists do not decode: %v", err)
		}
		if diff := cmp.Diff(img.Disks, again.Disks); diff != "" {
			t.Fatalf("re-encoded lists decode differently:\n%s", diff)
		}
	})
}
