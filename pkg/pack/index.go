// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pack

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/rewind-backup/rewind/pkg/chunk"
)

// An index file lists the blobs of some packs, so that a writer learns
// what the repository holds without reading every pack's trailer:
//
//	"RWI1" | pack name (32) | entry count (4) | entries (41 each) | pack name | …
//
// It is named by the SHA-256 of its bytes. Indexes are hints: a reader
// ignores entries of packs that are not there, and the pack's own trailer
// is what counts.
const indexMagic = "RWI1"

// MaxIndexSize bounds an index file; a reader refuses larger ones before
// reading them. 64 MiB is about 1.6 million blobs.
const MaxIndexSize = 64 << 20

// IndexWriter builds an index file in memory.
type IndexWriter struct {
	buf   []byte
	packs int
}

// Add lists pack name and its blobs.
func (w *IndexWriter) Add(name chunk.ID, blobs []Blob) {
	if w.buf == nil {
		w.buf = append(w.buf, indexMagic...)
	}
	w.buf = append(w.buf, name[:]...)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(blobs)))
	for _, b := range blobs {
		w.buf = AppendEntry(w.buf, b)
	}
	w.packs++
}

// Packs returns the number of packs added.
func (w *IndexWriter) Packs() int { return w.packs }

// Size returns the bytes of the index so far.
func (w *IndexWriter) Size() int { return len(w.buf) }

// Finish returns the index's bytes and name and empties the writer.
func (w *IndexWriter) Finish() (data []byte, name chunk.ID) {
	data = w.buf
	if data == nil {
		data = []byte(indexMagic)
	}
	w.buf, w.packs = nil, 0
	return data, chunk.ID(sha256.Sum256(data))
}

// ParseIndex checks index file data against its name and calls fn for each
// pack it lists, with that pack's blobs. The entries are checked as a
// trailer's are, except against the pack's size, which the index does not
// know: offsets must follow each other from 0.
func ParseIndex(data []byte, name chunk.ID, fn func(pack chunk.ID, blobs []Blob) error) error {
	if len(data) > MaxIndexSize {
		return fmt.Errorf("index of %d bytes is larger than %d: %w", len(data), MaxIndexSize, ErrCorrupt)
	}
	if got := chunk.ID(sha256.Sum256(data)); got != name {
		return fmt.Errorf("index content hashes to %s: %w", got.Short(), ErrCorrupt)
	}
	if len(data) < len(indexMagic) || string(data[:len(indexMagic)]) != indexMagic {
		return fmt.Errorf("not a rewind index (bad magic): %w", ErrCorrupt)
	}
	p := data[len(indexMagic):]
	for len(p) > 0 {
		if len(p) < chunk.IDSize+4 {
			return fmt.Errorf("index ends inside a pack's header: %w", ErrCorrupt)
		}
		var pk chunk.ID
		copy(pk[:], p)
		n := binary.LittleEndian.Uint32(p[chunk.IDSize:])
		p = p[chunk.IDSize+4:]
		if uint64(n)*EntrySize > uint64(len(p)) {
			return fmt.Errorf("index claims %d blobs for pack %s, more than it holds: %w", n, pk.Short(), ErrCorrupt)
		}
		entries := p[:int(n)*EntrySize]
		p = p[len(entries):]
		blobs := make([]Blob, 0, n)
		var pos int64
		for k := 0; k < len(entries); k += EntrySize {
			b := ParseEntry(entries[k : k+EntrySize])
			if b.Type > List || int64(b.Offset) != pos || b.Length < MinBlob || b.End() > MaxSize {
				return fmt.Errorf("index entry %d of pack %s is invalid: %w", len(blobs), pk.Short(), ErrCorrupt)
			}
			pos = b.End()
			blobs = append(blobs, b)
		}
		if err := fn(pk, blobs); err != nil {
			return err
		}
	}
	return nil
}
