// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/store"
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
	s.merge()
	if s.dir.idx == nil {
		t.Error("a set of more keys than its directory's slots has no directory")
	}
	// Keys at the edges of the directory's slots.
	var edge BlobSet
	for i := range 1<<16 + 5 {
		edge.Add(testID(i))
	}
	var lo, hi chunk.ID
	for k := range hi {
		hi[k] = 0xff
	}
	edge.Add(lo)
	edge.Add(hi)
	edge.merge()
	if !edge.Has(lo) || !edge.Has(hi) || edge.Add(hi) || edge.Add(lo) {
		t.Error("the lowest and highest keys are not found")
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

// TestEachManifestListsGone: a listing loads images without their chunk
// lists, and shows one whose lists' pack is gone as damaged.
func TestEachManifestListsGone(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepoV(t, 2)
	storeImage(t, r, "ws1", pieces(3, 1))
	gone := storeImage(t, r, "ws2", pieces(3, 2))
	l := gone.Image.Lists[0]
	if err := r.s.Remove(ctx, packName(gone.Image.Packs[l.Pack-1])); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	err := r.EachManifest(ctx, nil, func(h *Head, s *Snapshot, err error) error {
		switch {
		case err != nil:
			got[h.Machine] = err.Error()
		case len(s.Image.Disks[0].Partitions[0].Chunks) != 0:
			got[h.Machine] = "chunk lists loaded"
		default:
			got[h.Machine] = "ok"
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got["ws1"] != "ok" || !strings.Contains(got["ws2"], "a pack of its chunk lists is gone") {
		t.Errorf("EachManifest = %q; want ws1 ok without its lists, ws2 damaged", got)
	}
	// An error from fn stops the walk, and is what it returns.
	stop := errors.New("stop")
	calls := 0
	err = r.EachManifest(ctx, nil, func(*Head, *Snapshot, error) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("EachManifest with fn failing = %v after %d calls; want its error after 1", err, calls)
	}
}

// snapshotReads is a store that counts the reads of each snapshot file.
type snapshotReads struct {
	store.Store
	mu sync.Mutex
	n  map[string]int
}

func (c *snapshotReads) ReadAt(ctx context.Context, name string, b []byte, off int64) (int, error) {
	if strings.HasPrefix(name, snapshotsDir+"/") {
		c.mu.Lock()
		c.n[path.Base(name)]++
		c.mu.Unlock()
	}
	return c.Store.ReadAt(ctx, name, b, off)
}

// TestListingReadsOnce: a listing reads a snapshot that fits in its head's
// read once (over SMB a small read is mostly its open and close), one
// larger than that twice; the bytes the head read are checked against the
// snapshot's id as a read anew is, so a damaged small snapshot is still
// listed as damaged.
func TestListingReadsOnce(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepoV(t, 2)
	small := storeImage(t, r, "ws1", pieces(3, 1))
	big := *storeImage(t, r, "ws2", pieces(3, 2))
	big.Note = strings.Repeat("a long note ", headSize/10)
	if _, err := r.SaveSnapshot(ctx, &big); err != nil {
		t.Fatal(err)
	}
	// A damaged copy of a small snapshot: its head still reads, its bytes
	// no longer hash to its name.
	data, err := r.s.ReadFile(ctx, snapshotsDir+"/"+small.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	bad := chunk.Hash([]byte("not this content"))
	if err := r.s.Save(ctx, snapshotsDir+"/"+bad.String(), data); err != nil {
		t.Fatal(err)
	}
	c := &snapshotReads{Store: r.s, n: map[string]int{}}
	r.s = c
	got := map[string]string{}
	err = r.EachManifest(ctx, nil, func(h *Head, s *Snapshot, err error) error {
		switch {
		case err != nil:
			got[h.ID.String()] = err.Error()
		default:
			got[h.ID.String()] = "ok"
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[ID]int{small.ID(): 1, bad: 1, big.ID(): 2} {
		if c.n[id.String()] != want {
			t.Errorf("snapshot %s was read %d times, want %d (reads: %v)", ShortID(id), c.n[id.String()], want, c.n)
		}
	}
	if got[small.ID().String()] != "ok" || got[big.ID().String()] != "ok" || !strings.Contains(got[bad.String()], "hashes to") {
		t.Errorf("EachManifest = %q; want the small and the big snapshot ok, the damaged copy damaged", got)
	}
}
