// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package testutil

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// WriteCorpusEnv names the environment variable that makes Seed write the
// seeds it is given to the fuzz target's checked-in corpus:
//
//	REWIND_WRITE_CORPUS=1 go test -run '^FuzzX$' ./pkg/x
const WriteCorpusEnv = "REWIND_WRITE_CORPUS"

// Seed adds a seed to the fuzz target f and, when REWIND_WRITE_CORPUS=1,
// writes it to testdata/fuzz/<target>/seed-<hash> in the package's folder,
// in Go's corpus file format, so that `go test` and the fuzzer start from it on
// machines without the tools that made it.
func Seed(f *testing.F, args ...any) {
	f.Helper()
	f.Add(args...)
	if os.Getenv(WriteCorpusEnv) != "1" {
		return
	}
	b, err := MarshalCorpus(args...)
	if err != nil {
		f.Fatalf("seed for %s: %v", f.Name(), err)
	}
	dir := filepath.Join("testdata", "fuzz", f.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	name := filepath.Join(dir, seedPrefix+fmt.Sprintf("%x", sha256.Sum256(b))[:16])
	if err := os.WriteFile(name, b, 0o644); err != nil {
		f.Fatal(err)
	}
}

const corpusHeader = "go test fuzz v1\n"

// seedPrefix starts the names of the inputs Seed writes; the fuzzer names
// what it finds by hash alone.
const seedPrefix = "seed-"

// MarshalCorpus encodes values as a Go fuzz corpus file (the format
// testing's fuzzer reads from testdata/fuzz). It knows the types rewind's
// fuzz targets take.
func MarshalCorpus(args ...any) ([]byte, error) {
	var b strings.Builder
	b.WriteString(corpusHeader)
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case int:
			fmt.Fprintf(&b, "int(%d)\n", v)
		case int64:
			fmt.Fprintf(&b, "int64(%d)\n", v)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		default:
			return nil, fmt.Errorf("corpus value %v: type %T is not one MarshalCorpus knows", a, a)
		}
	}
	return []byte(b.String()), nil
}

// UnmarshalCorpus decodes a corpus file written by MarshalCorpus or by the
// fuzzer, for the types MarshalCorpus writes.
func UnmarshalCorpus(data []byte) ([]any, error) {
	s, ok := strings.CutPrefix(string(data), corpusHeader)
	if !ok {
		return nil, fmt.Errorf("corpus file does not start with %q", corpusHeader)
	}
	var out []any
	for i, line := range strings.Split(strings.TrimSpace(s), "\n") {
		typ, arg, ok := strings.Cut(line, "(")
		if !ok || !strings.HasSuffix(arg, ")") {
			return nil, fmt.Errorf("corpus line %d is not TYPE(VALUE)", i+2)
		}
		arg = arg[:len(arg)-1]
		var v any
		var err error
		switch typ {
		case "[]byte", "string":
			var u string
			if u, err = strconv.Unquote(arg); err == nil {
				v = u
				if typ == "[]byte" {
					v = []byte(u)
				}
			}
		case "int":
			v, err = strconv.Atoi(arg)
		case "int64":
			v, err = strconv.ParseInt(arg, 0, 64)
		case "uint32":
			var u uint64
			u, err = strconv.ParseUint(arg, 0, 32)
			v = uint32(u)
		case "bool":
			v, err = strconv.ParseBool(arg)
		default:
			return nil, fmt.Errorf("corpus line %d: type %q is not one UnmarshalCorpus knows", i+2, typ)
		}
		if err != nil {
			return nil, fmt.Errorf("corpus line %d, a %s: %w", i+2, typ, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Corpus returns the decoded seeds (written by Seed) of fuzz target name's
// checked-in corpus, testdata/fuzz/<name>/seed-*, by path, failing t when
// there are fewer than min of them or one does not decode: a target whose
// corpus is missing would otherwise fuzz from nothing and pass. Inputs the
// fuzzer found and that were kept are not seeds and are left out.
func Corpus(t testing.TB, name string, min int) map[string][]any {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading the checked-in corpus of %s: %v", name, err)
	}
	out := map[string][]any{}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), seedPrefix) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := UnmarshalCorpus(b)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[p] = v
	}
	if len(out) < min {
		t.Fatalf("%s holds %d inputs, want at least %d: regenerate it with %s=1 go test -run '^%s$'", dir, len(out), min, WriteCorpusEnv, name)
	}
	return out
}
