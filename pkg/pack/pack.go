// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package pack is the container of format-2 repositories: many small
// blobs (each one chunk encoding, see package chunk) appended to one file,
// followed by a trailer that lists them, so that a pack can be read and
// checked on its own. A pack is named by the SHA-256 of its bytes: written
// once, never changed, and checkable as a whole.
//
// The layout (see docs/FORMAT.md):
//
//	blob 0 | blob 1 | … | entry 0 | entry 1 | … | trailer length (4) | "RWP1"
//
// Each entry is 41 bytes: type (1), offset (4), length (4), id (32);
// offsets and lengths are little endian, and the blobs tile the front of
// the file in entry order. The trailer length counts the entries' bytes.
package pack

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rewind-backup/rewind/pkg/chunk"
)

// Blob types.
const (
	Data byte = 0 // disk image or file content
	Tree byte = 1 // a folder of a files snapshot (format defined with it)
	List byte = 2 // a piece of a disk image's chunk lists
)

// EntrySize is the size of one entry of the trailer.
const EntrySize = 1 + 4 + 4 + chunk.IDSize

// FooterSize is the size of the last part of a pack: the trailer's length
// and the magic.
const FooterSize = 8

const magic = "RWP1"

// MaxSize bounds a pack: a reader refuses larger ones before reading them.
const MaxSize = 256 << 20

// ErrCorrupt is wrapped by every error for bytes that are not a valid pack.
var ErrCorrupt = errors.New("pack is corrupt")

// Blob is one entry of a pack's trailer: where a blob lies in the pack.
type Blob struct {
	Type   byte
	ID     chunk.ID // SHA-256 of the blob's plaintext
	Offset uint32
	Length uint32 // bytes as stored (the chunk encoding)
}

// End returns the offset just after the blob.
func (b Blob) End() int64 { return int64(b.Offset) + int64(b.Length) }

// Writer builds a pack in memory. It is not safe for concurrent use.
type Writer struct {
	buf   []byte
	blobs []Blob
}

// NewWriter returns a Writer whose buffer starts with room for size bytes.
func NewWriter(size int) *Writer {
	return &Writer{buf: make([]byte, 0, size)}
}

// Add appends blob enc (a chunk encoding of plaintext id) and returns its
// entry.
func (w *Writer) Add(typ byte, id chunk.ID, enc []byte) Blob {
	b := Blob{Type: typ, ID: id, Offset: uint32(len(w.buf)), Length: uint32(len(enc))}
	w.buf = append(w.buf, enc...)
	w.blobs = append(w.blobs, b)
	return b
}

// Size returns the bytes the pack would have if finished now.
func (w *Writer) Size() int {
	return len(w.buf) + len(w.blobs)*EntrySize + FooterSize
}

// Len returns the number of blobs added.
func (w *Writer) Len() int { return len(w.blobs) }

// Blobs returns the entries added so far. The slice is the writer's own.
func (w *Writer) Blobs() []Blob { return w.blobs }

// Finish appends the trailer and returns the pack's bytes and its name, the
// SHA-256 of those bytes. The writer is empty afterwards, ready for the
// next pack; the returned bytes are the caller's.
func (w *Writer) Finish() (data []byte, name chunk.ID) {
	data = w.buf
	data = AppendTrailer(data, w.blobs)
	w.buf = make([]byte, 0, cap(data))
	w.blobs = nil
	return data, chunk.ID(sha256.Sum256(data))
}

// AppendTrailer appends the entries of blobs and the footer to dst.
func AppendTrailer(dst []byte, blobs []Blob) []byte {
	for _, b := range blobs {
		dst = AppendEntry(dst, b)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(blobs)*EntrySize))
	return append(dst, magic...)
}

// AppendEntry appends one entry's 41 bytes to dst.
func AppendEntry(dst []byte, b Blob) []byte {
	dst = append(dst, b.Type)
	dst = binary.LittleEndian.AppendUint32(dst, b.Offset)
	dst = binary.LittleEndian.AppendUint32(dst, b.Length)
	return append(dst, b.ID[:]...)
}

// ParseEntry reads one entry from its 41 bytes.
func ParseEntry(p []byte) Blob {
	var b Blob
	b.Type = p[0]
	b.Offset = binary.LittleEndian.Uint32(p[1:])
	b.Length = binary.LittleEndian.Uint32(p[5:])
	copy(b.ID[:], p[9:EntrySize])
	return b
}

// TrailerLen reads the footer, the last FooterSize bytes of a pack of size
// bytes, and returns the length of the entries before it.
func TrailerLen(footer []byte, size int64) (int, error) {
	if len(footer) != FooterSize || string(footer[4:]) != magic {
		return 0, fmt.Errorf("no pack trailer at its end: %w", ErrCorrupt)
	}
	n := int64(binary.LittleEndian.Uint32(footer))
	if n%EntrySize != 0 || n > size-FooterSize {
		return 0, fmt.Errorf("trailer length %d does not fit a pack of %d bytes: %w", n, size, ErrCorrupt)
	}
	return int(n), nil
}

// ParseTrailer parses the entries of a pack of size bytes. The blobs must
// tile the bytes before the entries, in order, each at least as long as a
// chunk header, and every blob must be of a known type.
func ParseTrailer(entries []byte, size int64) ([]Blob, error) {
	if len(entries)%EntrySize != 0 {
		return nil, fmt.Errorf("trailer of %d bytes is not whole entries: %w", len(entries), ErrCorrupt)
	}
	end := size - FooterSize - int64(len(entries))
	if end < 0 {
		return nil, fmt.Errorf("trailer of %d bytes does not fit a pack of %d bytes: %w", len(entries), size, ErrCorrupt)
	}
	blobs := make([]Blob, 0, len(entries)/EntrySize)
	var pos int64
	for k := 0; k < len(entries); k += EntrySize {
		b := ParseEntry(entries[k : k+EntrySize])
		switch {
		case b.Type > List:
			return nil, fmt.Errorf("blob %d has unknown type %d: %w", len(blobs), b.Type, ErrCorrupt)
		case int64(b.Offset) != pos:
			return nil, fmt.Errorf("blob %d starts at %d, the one before ends at %d: %w", len(blobs), b.Offset, pos, ErrCorrupt)
		case b.Length < MinBlob || b.End() > end:
			return nil, fmt.Errorf("blob %d (%d bytes at %d) does not fit the %d bytes of blobs: %w", len(blobs), b.Length, b.Offset, end, ErrCorrupt)
		}
		pos = b.End()
		blobs = append(blobs, b)
	}
	if pos != end {
		return nil, fmt.Errorf("the blobs end at %d, the trailer starts at %d: %w", pos, end, ErrCorrupt)
	}
	return blobs, nil
}

// Parse parses a whole pack and checks it against its name: its SHA-256,
// and its trailer. It does not decode the blobs.
func Parse(data []byte, name chunk.ID) ([]Blob, error) {
	if got := chunk.ID(sha256.Sum256(data)); got != name {
		return nil, fmt.Errorf("content hashes to %s: %w", got.Short(), ErrCorrupt)
	}
	return Trailer(data)
}

// Trailer parses the trailer of a whole pack, without checking the pack
// against its name: how a damaged pack's blobs are still found.
func Trailer(data []byte) ([]Blob, error) {
	size := int64(len(data))
	if size < FooterSize {
		return nil, fmt.Errorf("%d bytes is too short for a pack: %w", size, ErrCorrupt)
	}
	n, err := TrailerLen(data[size-FooterSize:], size)
	if err != nil {
		return nil, err
	}
	return ParseTrailer(data[size-FooterSize-int64(n):size-FooterSize], size)
}

// MinBlob is the smallest blob: a chunk header with an empty payload.
const MinBlob = 9
