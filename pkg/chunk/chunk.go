// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package chunk names and encodes the unit of storage in a rewind
// repository: a piece of plaintext, named by the SHA-256 of that plaintext,
// stored lz4-compressed or raw, whichever is smaller, and verified against
// its name every time it is decoded.
//
// The encoding (see docs/FORMAT.md):
//
//	offset  size  field
//	0       4     magic "RWC1"
//	4       1     codec: 0 raw, 1 lz4 block
//	5       4     plaintext length, little endian
//	9       ...   payload: the plaintext (raw) or one lz4 block
package chunk

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/pierrec/lz4/v4"
)

// IDSize is the length of an ID in bytes.
const IDSize = sha256.Size

// ID names a chunk: the SHA-256 of its plaintext.
type ID [IDSize]byte

// Hash returns the ID of plaintext p.
func Hash(p []byte) ID {
	return ID(sha256.Sum256(p))
}

// String returns the ID as 64 lower-case hex digits.
func (id ID) String() string {
	return hex.EncodeToString(id[:])
}

// Short returns the first 12 hex digits, for messages.
func (id ID) Short() string {
	return id.String()[:12]
}

// MarshalText encodes the ID as hex, so IDs read well in JSON.
func (id ID) MarshalText() ([]byte, error) {
	return []byte(id.String()), nil
}

// UnmarshalText parses 64 hex digits.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ParseID parses 64 hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("chunk id %q: want %d hex digits, have %d", s, 2*IDSize, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("chunk id %q: %w", s, err)
	}
	return id, nil
}

// IsZero reports whether p holds only zero bytes. Zero chunks are recorded
// in manifests but never stored nor sent.
func IsZero(p []byte) bool {
	// Compare in 4 KiB steps against a zero page: bytes.Equal is vectorised.
	for len(p) > 0 {
		n := min(len(p), len(zeroPage))
		if !bytes.Equal(p[:n], zeroPage[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

var zeroPage [4096]byte

// Codecs.
const (
	CodecRaw byte = 0
	CodecLZ4 byte = 1
)

const (
	magic      = "RWC1"
	headerSize = 9
)

// ErrCorrupt is wrapped by every error Decode returns for bytes that are not
// a valid encoding of the chunk asked for.
var ErrCorrupt = errors.New("chunk is corrupt")

// MaxEncodedLen returns the largest encoding of n bytes of plaintext.
func MaxEncodedLen(n int) int {
	return headerSize + max(n, lz4.CompressBlockBound(n))
}

// Encode appends the encoding of plaintext p to dst and returns it: lz4 when
// that is smaller, raw otherwise. A Compressor is not safe for concurrent use;
// give each worker its own.
func Encode(c *lz4.Compressor, dst, p []byte) []byte {
	start := len(dst)
	need := MaxEncodedLen(len(p))
	if cap(dst)-start < need {
		nd := make([]byte, start, start+need)
		copy(nd, dst)
		dst = nd
	}
	dst = dst[:start+headerSize]
	copy(dst[start:], magic)
	binary.LittleEndian.PutUint32(dst[start+5:], uint32(len(p)))

	body := dst[start+headerSize : start+need]
	n, err := c.CompressBlock(p, body)
	if err == nil && n > 0 && n < len(p) {
		dst[start+4] = CodecLZ4
		return dst[:start+headerSize+n]
	}
	dst[start+4] = CodecRaw
	return append(dst, p...)
}

// Decode checks that enc is an encoding of chunk want, of at most max bytes
// of plaintext, and returns the plaintext, appended to dst[:0] when dst has
// room. Every failure wraps ErrCorrupt and names the chunk.
func Decode(dst, enc []byte, want ID, max int) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("chunk %s: %s: %w", want, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if len(enc) < headerSize || string(enc[:4]) != magic {
		return nil, bad("not a rewind chunk (bad header)")
	}
	n := binary.LittleEndian.Uint32(enc[5:9])
	if uint64(n) > uint64(max) {
		return nil, bad("claims %d bytes, more than the repository's limit of %d", n, max)
	}
	body := enc[headerSize:]
	if cap(dst) < int(n) {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	switch enc[4] {
	case CodecRaw:
		if len(body) != int(n) {
			return nil, bad("raw payload is %d bytes, header says %d", len(body), n)
		}
		copy(dst, body)
	case CodecLZ4:
		if n == 0 {
			// Encode never compresses empty data, and lz4's decoder
			// crashes on an empty destination (pierrec/lz4 v4.1.33).
			return nil, bad("lz4 block for empty data")
		}
		got, err := lz4.UncompressBlock(body, dst)
		if err != nil {
			return nil, bad("lz4: %v", err)
		}
		if got != int(n) {
			return nil, bad("lz4 block holds %d bytes, header says %d", got, n)
		}
	default:
		return nil, bad("unknown codec %d", enc[4])
	}
	if got := Hash(dst); got != want {
		return nil, bad("content hashes to %s", got.Short())
	}
	return dst, nil
}
