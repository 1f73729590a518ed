// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/pierrec/lz4/v4"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

// countReads is a store that counts its reads.
type countReads struct {
	store.Store
	n atomic.Int64
}

func (c *countReads) ReadAt(ctx context.Context, name string, b []byte, off int64) (int, error) {
	c.n.Add(1)
	return c.Store.ReadAt(ctx, name, b, off)
}

// savedBlobs stores ps as data blobs next to each other in one pack and
// returns them with their places.
func savedBlobs(t *testing.T, r *Repository, ps [][]byte) []Blob {
	t.Helper()
	ctx := context.Background()
	idx, err := r.LoadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lz lz4.Compressor
	ids := make([]chunk.ID, len(ps))
	encs := make([][]byte, len(ps))
	for k, p := range ps {
		ids[k], encs[k] = chunk.Hash(p), chunk.Encode(&lz, nil, p)
	}
	s := r.NewSaver(idx)
	if err := s.SaveBatch(ctx, pack.Data, ids, encs); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	bs := make([]Blob, len(ps))
	for k, id := range ids {
		l, ok := idx.Lookup(id)
		if !ok {
			t.Fatalf("blob %d is in no index after the flush", k)
		}
		bs[k] = Blob{ID: id, Pack: idx.Pack(l.Pack), Off: l.Off, Len: l.Len, Size: uint32(len(ps[k]))}
	}
	return bs
}

// TestLoadBlobs: a run of adjacent blobs is one read and gives each
// blob's plaintext in order; a damaged blob in it is an error that says
// so, and a pack that is gone one that wraps fs.ErrNotExist.
func TestLoadBlobs(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	ps := pieces(7, 5)
	ps[2] = bytes.Repeat([]byte("compressible "), 3000) // stored lz4, the rest raw
	bs := savedBlobs(t, r, ps)
	for k := 1; k < len(bs); k++ {
		if !BlobsAdjacent(bs[k-1], bs[k]) {
			t.Fatalf("BlobsAdjacent(blob %d, blob %d) = false, want true: saved in one batch", k-1, k)
		}
	}
	if BlobsAdjacent(bs[0], bs[2]) || BlobsAdjacent(bs[1], bs[0]) {
		t.Errorf("BlobsAdjacent of blobs 0 and 2, or 1 and 0 = true, want false")
	}

	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countReads{Store: s}
	r2, err := Open(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	load := func(bs []Blob) ([][]byte, error) {
		var got [][]byte
		err := r2.LoadBlobs(ctx, bs, func(k int, p []byte) error {
			if k != len(got) {
				t.Fatalf("LoadBlobs called fn for blob %d after %d blobs", k, len(got))
			}
			got = append(got, bytes.Clone(p))
			return nil
		})
		return got, err
	}
	before := cs.n.Load()
	got, err := load(bs)
	if err != nil {
		t.Fatalf("LoadBlobs(5 adjacent blobs) = %v", err)
	}
	if reads := cs.n.Load() - before; reads != 1 {
		t.Errorf("LoadBlobs(5 adjacent blobs) read the store %d times, want 1", reads)
	}
	for k := range ps {
		if !bytes.Equal(got[k], ps[k]) {
			t.Errorf("LoadBlobs: blob %d differs from what was saved", k)
		}
	}
	if _, err := load([]Blob{bs[0], bs[2]}); err == nil {
		t.Errorf("LoadBlobs(blobs 0 and 2, not adjacent) = nil, want an error")
	}

	// Damage blob 3 in its pack: the run still gives blobs 0-2, then
	// fails on 3 with ErrCorrupt.
	pk := filepath.Join(dir, filepath.FromSlash(packName(bs[3].Pack)))
	data, err := os.ReadFile(pk)
	if err != nil {
		t.Fatal(err)
	}
	data[bs[3].Off+20] ^= 0xff
	if err := os.WriteFile(pk, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = load(bs)
	if !errors.Is(err, chunk.ErrCorrupt) || len(got) != 3 {
		t.Errorf("LoadBlobs(run with blob 3 damaged) = %d blobs, %v; want 3 and chunk.ErrCorrupt", len(got), err)
	}
	if err := os.Remove(pk); err != nil {
		t.Fatal(err)
	}
	if _, err = load(bs); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadBlobs(run of a pack gone) = %v, want fs.ErrNotExist", err)
	}
}
