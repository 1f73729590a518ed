// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pack

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pierrec/lz4/v4"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// samplePack is a pack of three blobs: compressible, random-ish, and
// empty plaintext.
func samplePack(t testing.TB) ([]byte, chunk.ID, [][]byte) {
	var c lz4.Compressor
	plains := [][]byte{bytes.Repeat([]byte("rewind "), 900), make([]byte, 0), []byte("a tree, one day")}
	for i := range 300 {
		plains[1] = append(plains[1], byte(i*7919>>3))
	}
	w := NewWriter(0)
	for i, p := range plains {
		typ := Data
		if i == 2 {
			typ = Tree
		}
		w.Add(typ, chunk.Hash(p), chunk.Encode(&c, nil, p))
	}
	data, name := w.Finish()
	return data, name, plains
}

func TestRoundTrip(t *testing.T) {
	data, name, plains := samplePack(t)
	if name != chunk.ID(sha256.Sum256(data)) {
		t.Fatalf("Finish() name is not the SHA-256 of the pack")
	}
	blobs, err := Parse(data, name)
	if err != nil {
		t.Fatalf("Parse(a pack just written) = %v", err)
	}
	if len(blobs) != len(plains) {
		t.Fatalf("Parse = %d blobs, want %d", len(blobs), len(plains))
	}
	for i, b := range blobs {
		got, err := chunk.Decode(nil, data[b.Offset:b.End()], b.ID, 1<<20)
		if err != nil || !bytes.Equal(got, plains[i]) {
			t.Errorf("blob %d decodes to %d bytes, %v; want its plaintext", i, len(got), err)
		}
	}
	if blobs[2].Type != Tree || blobs[0].Type != Data {
		t.Errorf("blob types = %d, %d, want Data and Tree kept", blobs[0].Type, blobs[2].Type)
	}
	// The trailer read from its end alone, as a reader of a remote pack
	// does it.
	n, err := TrailerLen(data[len(data)-FooterSize:], int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseTrailer(data[len(data)-FooterSize-n:len(data)-FooterSize], int64(len(data)))
	if err != nil || !cmp.Equal(again, blobs) {
		t.Errorf("ParseTrailer = %v, %v; want what Parse found", again, err)
	}
	// An index of it lists the same.
	var iw IndexWriter
	iw.Add(name, blobs)
	idx, iname := iw.Finish()
	var listed []Blob
	err = ParseIndex(idx, iname, func(pk chunk.ID, bs []Blob) error {
		if pk != name {
			t.Errorf("index lists pack %s, want %s", pk.Short(), name.Short())
		}
		listed = append(listed, bs...)
		return nil
	})
	if err != nil || !cmp.Equal(listed, blobs) {
		t.Errorf("ParseIndex = %v, %v; want the pack's blobs", listed, err)
	}
}

func TestDamage(t *testing.T) {
	data, name, _ := samplePack(t)
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"a blob byte", func(b []byte) []byte { b[20] ^= 1; return b }},
		{"cut short", func(b []byte) []byte { return b[:len(b)-1] }},
		{"no magic", func(b []byte) []byte { b[len(b)-1] = 'X'; return b }},
		{"trailer length", func(b []byte) []byte { b[len(b)-8]++; return b }},
		{"entry offset", func(b []byte) []byte { b[len(b)-FooterSize-EntrySize+1]++; return b }},
		{"empty", func([]byte) []byte { return nil }},
	} {
		bad := tc.damage(bytes.Clone(data))
		if _, err := Parse(bad, name); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Parse(%s) = %v, want ErrCorrupt", tc.name, err)
		}
		// Against its own hash, only damage to the trailer is found; the
		// blobs' own check (chunk.Decode) finds the rest.
		if _, err := Parse(bad, chunk.ID(sha256.Sum256(bad))); tc.name != "a blob byte" && !errors.Is(err, ErrCorrupt) {
			t.Errorf("Parse(%s, its own hash) = %v, want ErrCorrupt", tc.name, err)
		}
	}
}

// FuzzParse: any bytes, named by their hash, either fail with ErrCorrupt
// or give blobs that tile the pack's front in order, which a writer given
// the same blobs reproduces byte for byte.
func FuzzParse(f *testing.F) {
	data, _, _ := samplePack(f)
	testutil.Seed(f, data)
	testutil.Seed(f, data[:len(data)-3])
	testutil.Seed(f, AppendTrailer(nil, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		blobs, err := Parse(data, chunk.ID(sha256.Sum256(data)))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Parse = %v, not ErrCorrupt", err)
			}
			return
		}
		end := int64(len(data)) - FooterSize - int64(len(blobs))*EntrySize
		w := NewWriter(0)
		for _, b := range blobs {
			if b.End() > end {
				t.Fatalf("blob %+v runs past the blobs' end %d", b, end)
			}
			w.Add(b.Type, b.ID, data[b.Offset:b.End()])
		}
		again, _ := w.Finish()
		if !bytes.Equal(again, data) {
			t.Fatalf("writing the parsed blobs again gives other bytes")
		}
	})
}

// FuzzParseIndex: any bytes, named by their hash, either fail with
// ErrCorrupt or list packs whose entries re-encode to the same bytes.
func FuzzParseIndex(f *testing.F) {
	data, name, _ := samplePack(f)
	blobs, err := Parse(data, name)
	if err != nil {
		f.Fatal(err)
	}
	var iw IndexWriter
	iw.Add(name, blobs)
	iw.Add(chunk.Hash([]byte("other")), blobs[:1])
	idx, _ := iw.Finish()
	testutil.Seed(f, idx)
	testutil.Seed(f, idx[:len(idx)-1])
	testutil.Seed(f, []byte(indexMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		var again IndexWriter
		err := ParseIndex(data, chunk.ID(sha256.Sum256(data)), func(pk chunk.ID, bs []Blob) error {
			again.Add(pk, bs)
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ParseIndex = %v, not ErrCorrupt", err)
			}
			return
		}
		b, _ := again.Finish()
		if !bytes.Equal(b, data) {
			t.Fatalf("writing the parsed index again gives other bytes")
		}
	})
}
