// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package chunk

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
)

func sample(kind string, n int) []byte {
	p := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	switch kind {
	case "random":
		for i := range p {
			p[i] = byte(r.Uint32())
		}
	case "text":
		s := "the quick brown fox jumps over the lazy dog "
		for i := range p {
			p[i] = s[i%len(s)]
		}
	case "zero":
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		n     int
		codec byte
	}{
		{"text", 1 << 20, CodecLZ4},
		{"random", 1 << 20, CodecRaw},
		{"zero", 4096, CodecLZ4},
		{"text", 1, CodecRaw},
		{"text", 0, CodecRaw},
	} {
		var c lz4.Compressor
		p := sample(tc.kind, tc.n)
		enc := Encode(&c, nil, p)
		if enc[4] != tc.codec {
			t.Errorf("Encode(%s, %d) codec = %d, want %d", tc.kind, tc.n, enc[4], tc.codec)
		}
		if len(enc) > MaxEncodedLen(len(p)) {
			t.Errorf("Encode(%s, %d) = %d bytes, more than MaxEncodedLen %d", tc.kind, tc.n, len(enc), MaxEncodedLen(len(p)))
		}
		got, err := Decode(nil, enc, Hash(p), 1<<20)
		if err != nil {
			t.Fatalf("Decode(Encode(%s, %d)) = %v", tc.kind, tc.n, err)
		}
		if !bytes.Equal(got, p) {
			t.Errorf("Decode(Encode(%s, %d)) differs from the plaintext", tc.kind, tc.n)
		}
	}
}

func TestEncodeAppends(t *testing.T) {
	var c lz4.Compressor
	p := sample("text", 1000)
	enc := Encode(&c, []byte("prefix"), p)
	if !strings.HasPrefix(string(enc), "prefix"+magic) {
		t.Fatalf("Encode(prefix, ...) = %q..., want the prefix kept", enc[:10])
	}
}

func TestDecodeRejects(t *testing.T) {
	var c lz4.Compressor
	p := sample("text", 64<<10)
	id := Hash(p)
	good := Encode(&c, nil, p)
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 0x40
	rawFlip := Encode(&c, nil, sample("random", 1000))
	rawFlip[100] ^= 1
	for _, tc := range []struct {
		name string
		enc  []byte
		id   ID
		max  int
		want string
	}{
		{"empty", nil, id, 1 << 20, "bad header"},
		{"bad magic", append([]byte("XXXX"), good[4:]...), id, 1 << 20, "bad header"},
		{"flipped bit", flip, id, 1 << 20, ""},
		{"raw flipped bit", rawFlip, Hash(sample("random", 1000)), 1 << 20, "content hashes to"},
		{"wrong id", good, Hash([]byte("other")), 1 << 20, "content hashes to"},
		{"over limit", good, id, 1024, "more than the repository's limit"},
		{"truncated", good[:len(good)-10], id, 1 << 20, ""},
		{"unknown codec", append([]byte(magic), 7, 0, 0, 0, 0), Hash(nil), 10, "unknown codec"},
	} {
		_, err := Decode(nil, tc.enc, tc.id, tc.max)
		if err == nil {
			t.Errorf("Decode(%s) = nil error, want one", tc.name)
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%s) = %v, want it to wrap ErrCorrupt", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.id.String()) {
			t.Errorf("Decode(%s) = %q, want the chunk id named", tc.name, err)
		}
		if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%s) = %q, want %q in it", tc.name, err, tc.want)
		}
	}
}

func TestIsZero(t *testing.T) {
	z := make([]byte, 10000)
	if !IsZero(z) {
		t.Errorf("IsZero(zeros) = false, want true")
	}
	z[9999] = 1
	if IsZero(z) {
		t.Errorf("IsZero(zeros with a 1 at the end) = true, want false")
	}
	if !IsZero(nil) {
		t.Errorf("IsZero(nil) = false, want true")
	}
}

func TestParseID(t *testing.T) {
	id := Hash([]byte("x"))
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Errorf("ParseID(%s) = %v, %v; want %v", id, got, err, id)
	}
	for _, s := range []string{"", "zz", strings.Repeat("g", 64), id.String()[:63]} {
		if _, err := ParseID(s); err == nil {
			t.Errorf("ParseID(%q) = nil error, want one", s)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to Decode: it must never panic, never
// allocate more than max, and accept only bytes that hash to the id.
func FuzzDecode(f *testing.F) {
	var c lz4.Compressor
	for _, p := range [][]byte{nil, []byte("hello"), sample("text", 5000), sample("random", 300)} {
		f.Add(Encode(&c, nil, p))
	}
	f.Add([]byte("RWC1\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, enc []byte) {
		const max = 1 << 16
		id := Hash([]byte("hello"))
		if len(enc) >= headerSize {
			// Also try the id the claimed plaintext would have, so that
			// valid encodings reach the success path.
			if p, err := Decode(nil, enc, id, max); err == nil && string(p) != "hello" {
				t.Fatalf("Decode accepted %q for the id of hello", p)
			}
		}
		p, err := Decode(nil, enc, ID{}, max)
		if err == nil && Hash(p) != (ID{}) {
			t.Fatalf("Decode accepted bytes that do not hash to the id")
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Decode error %v does not wrap ErrCorrupt", err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	var c lz4.Compressor
	p := sample("text", 1<<20)
	dst := make([]byte, 0, MaxEncodedLen(len(p)))
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		Hash(p)
		Encode(&c, dst[:0], p)
	}
}

func BenchmarkDecode(b *testing.B) {
	var c lz4.Compressor
	p := sample("text", 1<<20)
	enc := Encode(&c, nil, p)
	id := Hash(p)
	dst := make([]byte, len(p))
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := Decode(dst, enc, id, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashEncodeParallel hashes and compresses 1 MiB chunks on every
// core (b.RunParallel uses GOMAXPROCS goroutines); compare with
// BenchmarkEncode, one core, for the scaling.
func BenchmarkHashEncodeParallel(b *testing.B) {
	p := sample("text", 1<<20)
	b.SetBytes(int64(len(p)))
	b.RunParallel(func(pb *testing.PB) {
		var c lz4.Compressor
		dst := make([]byte, 0, MaxEncodedLen(len(p)))
		for pb.Next() {
			Hash(p)
			Encode(&c, dst[:0], p)
		}
	})
}
