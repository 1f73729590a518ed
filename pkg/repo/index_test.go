// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"encoding/binary"
	"testing"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
)

func testID(i int) chunk.ID {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	return chunk.Hash(b[:])
}

// TestBlobSet adds more ids than a merge takes, twice, and asks for each
// and for others.
func TestBlobSet(t *testing.T) {
	var s BlobSet
	const n = 3*mergeAt + 17
	for i := range n {
		if !s.Add(testID(i)) {
			t.Fatalf("Add(%d) the first time = false", i)
		}
	}
	for i := range n {
		if s.Add(testID(i)) {
			t.Fatalf("Add(%d) the second time = true", i)
		}
	}
	for i := range n + 1000 {
		if got := s.Has(testID(i)); got != (i < n) {
			t.Fatalf("Has(%d) = %v", i, got)
		}
	}
	if s.Len() != n {
		t.Errorf("Len = %d, want %d", s.Len(), n)
	}
}

// TestIndexAdds: blobs added through packs are found at their first place
// across the merges of additions into the sorted slice.
func TestIndexAdds(t *testing.T) {
	x := newIndex()
	const n = 2*mergeAt + 5
	var blobs []pack.Blob
	for i := range n {
		blobs = append(blobs, pack.Blob{ID: testID(i), Offset: uint32(i), Length: 7})
	}
	a, b := chunk.Hash([]byte("a")), chunk.Hash([]byte("b"))
	x.addPack(a, blobs)
	x.addPack(b, blobs[:10]) // listed already: they stay in a
	for i := range n {
		l, ok := x.Lookup(testID(i))
		if !ok || x.Pack(l.Pack) != a || l.Off != uint32(i) || l.Len != 7 {
			t.Fatalf("Lookup(%d) = %+v %v, want pack a at %d", i, l, ok, i)
		}
	}
	if _, ok := x.Lookup(testID(n)); ok {
		t.Error("Lookup of a blob never added = found")
	}
	if !x.HasPack(a) || !x.HasPack(b) || x.HasPack(testID(0)) {
		t.Error("HasPack is wrong")
	}
}
