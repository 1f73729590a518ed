// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/store"
)

// chunkName is where a chunk lives: chunks/<first two hex digits>/<id>.
// 256 folders keep each under a few thousand entries up to about a million
// chunks (a terabyte of distinct 1 MiB chunks).
func chunkName(id chunk.ID) string {
	s := id.String()
	return chunksDir + "/" + s[:2] + "/" + s
}

// HasChunk reports whether chunk id is stored.
func (r *Repository) HasChunk(ctx context.Context, id chunk.ID) (bool, error) {
	_, err := r.s.Stat(ctx, chunkName(id))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up chunk %s: %w", id, err)
	}
	return true, nil
}

// SaveChunk stores enc, the encoding (chunk.Encode) of chunk id. The caller
// encodes, so that hashing and compressing run in its own workers. Saving a
// chunk that another writer stores at the same time is safe.
func (r *Repository) SaveChunk(ctx context.Context, id chunk.ID, enc []byte) error {
	err := r.s.Save(ctx, chunkName(id), enc)
	if err != nil {
		// Another writer may have stored the same chunk at the same moment
		// and made our rename fail; the content is the same.
		if ok, _ := r.HasChunk(ctx, id); ok {
			return nil
		}
		return fmt.Errorf("storing chunk %s in %s: %w", id, r.s.Location(), err)
	}
	return nil
}

// LoadChunk reads chunk id, checks it against its id and returns its
// plaintext, in buf when it is large enough. A chunk whose bytes do not match
// its id is an error that wraps chunk.ErrCorrupt and names it.
func (r *Repository) LoadChunk(ctx context.Context, id chunk.ID, buf []byte) ([]byte, error) {
	enc, err := r.s.ReadFile(ctx, chunkName(id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("chunk %s is missing from %s: %w", id, r.s.Location(), err)
		}
		return nil, fmt.Errorf("reading chunk %s: %w", id, err)
	}
	p, err := chunk.Decode(buf, enc, id, r.cfg.MaxChunkSize)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s/%s)", err, r.s.Location(), chunkName(id))
	}
	return p, nil
}

// LoadChunkEncoded reads chunk id as stored, without decoding it. Restore
// uses it to keep the network reads apart from the decoding workers.
func (r *Repository) LoadChunkEncoded(ctx context.Context, id chunk.ID) ([]byte, error) {
	enc, err := r.s.ReadFile(ctx, chunkName(id))
	if err != nil {
		return nil, fmt.Errorf("reading chunk %s: %w", id, err)
	}
	return enc, nil
}

// DecodeChunk checks and decodes enc as LoadChunk does.
func (r *Repository) DecodeChunk(enc []byte, id chunk.ID, buf []byte) ([]byte, error) {
	p, err := chunk.Decode(buf, enc, id, r.cfg.MaxChunkSize)
	if err != nil && r.Packed() {
		return nil, fmt.Errorf("%w (in %s)", err, r.s.Location())
	}
	if err != nil {
		return nil, fmt.Errorf("%w (in %s/%s)", err, r.s.Location(), chunkName(id))
	}
	return p, nil
}

// StoredChunk is one chunk file found by ListChunks.
type StoredChunk struct {
	ID   chunk.ID
	Size int64 // bytes as stored
}

// ListChunks calls fn for each stored chunk. Files in the chunk folders
// that are not chunks (temporaries, .keep) go to other, if it is not nil,
// with their name relative to the repository.
func (r *Repository) ListChunks(ctx context.Context, fn func(StoredChunk) error, other func(name string, fi store.Info) error) error {
	for i := range 256 {
		dir := fmt.Sprintf("%s/%02x", chunksDir, i)
		err := r.s.List(ctx, dir, func(fi store.Info) error {
			id, err := chunk.ParseID(fi.Name)
			if err != nil || !strings.HasPrefix(fi.Name, dir[len(chunksDir)+1:]) {
				if other != nil {
					return other(dir+"/"+fi.Name, fi)
				}
				return nil
			}
			return fn(StoredChunk{ID: id, Size: fi.Size})
		})
		if err != nil {
			return fmt.Errorf("listing %s in %s: %w", dir, r.s.Location(), err)
		}
	}
	return nil
}

// KnownChunks returns the set of stored chunks, for writers that would
// otherwise look up each chunk one request at a time.
func (r *Repository) KnownChunks(ctx context.Context) (map[chunk.ID]struct{}, error) {
	known := make(map[chunk.ID]struct{})
	err := r.ListChunks(ctx, func(c StoredChunk) error {
		known[c.ID] = struct{}{}
		return nil
	}, nil)
	return known, err
}

// removeChunk deletes a chunk. Only prune calls it, under an exclusive lock.
func (r *Repository) removeChunk(ctx context.Context, id chunk.ID) error {
	err := r.s.Remove(ctx, chunkName(id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing chunk %s: %w", id, err)
	}
	return nil
}
