// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// run runs a real tool and returns its standard output; a failure fails t.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := tryRun(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// tryRun runs a tool and returns its combined output and error.
func tryRun(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	p := testutil.NeedTool(t, name)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// makeTree writes n files of random (incompressible) content and of sizes
// from empty to about maxSize into dir, some in subdirectories, and returns
// their paths relative to dir.
func makeTree(t testing.TB, dir string, seed int64, n int, maxSize int) []string {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	var names []string
	for i := 0; i < n; i++ {
		sub := []string{"", "docs", "docs/old", "photos"}[rng.Intn(4)]
		name := filepath.Join(sub, "f"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+itoa(i)+".bin")
		size := rng.Intn(maxSize + 1)
		if i%7 == 0 {
			size = rng.Intn(5000) // small files, tails of clusters
		}
		b := make([]byte, size)
		rng.Read(b)
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}

// openImage opens an image file for the test, closed when it ends, and
// returns it with its size.
func openImage(t testing.TB, path string) (*os.File, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return f, fi.Size()
}

// readMap runs Read on an image file.
func readMap(t testing.TB, path string, opt Options) (*Map, error) {
	t.Helper()
	f, size := openImage(t, path)
	return Read(context.Background(), f, size, opt)
}

// mustMap is readMap that fails t on an error and checks the map's
// invariants.
func mustMap(t testing.TB, path string) *Map {
	t.Helper()
	m, err := readMap(t, path, Options{})
	if err != nil {
		t.Fatalf("Read(%s) = %v", filepath.Base(path), err)
	}
	checkInvariants(t, path, m)
	return m
}

func checkInvariants(t testing.TB, path string, m *Map) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var sum, end int64
	for i, e := range m.Extents {
		if e.Len <= 0 || e.Off < end || (i > 0 && e.Off == end) || e.End() > fi.Size() {
			t.Fatalf("extent %d %+v: not sorted, merged and within [0,%d) (previous end %d)", i, e, fi.Size(), end)
		}
		end = e.End()
		sum += e.Len
	}
	if sum != m.Used {
		t.Errorf("Used = %d, want the sum of the extents %d", m.Used, sum)
	}
	if err := zeroedInside(m); err != nil {
		t.Error(err)
	}
}

// zeroedInside checks that m's zeroed ranges are sorted, do not overlap,
// each lie inside one extent, and add up to Summary.ZeroedBytes.
func zeroedInside(m *Map) error {
	var sum, end int64
	k := 0
	for i, z := range m.Zeroed {
		if z.Len <= 0 || z.Off < end {
			return fmt.Errorf("zeroed range %d %+v: empty or not sorted (previous end %d)", i, z, end)
		}
		for k < len(m.Extents) && m.Extents[k].End() <= z.Off {
			k++
		}
		if k == len(m.Extents) || z.Off < m.Extents[k].Off || z.End() > m.Extents[k].End() {
			return fmt.Errorf("zeroed range %d %+v lies outside the used extents", i, z)
		}
		end = z.End()
		sum += z.Len
	}
	if sum != m.Summary.ZeroedBytes {
		return fmt.Errorf("Summary.ZeroedBytes = %d, want the sum of the zeroed ranges %d", m.Summary.ZeroedBytes, sum)
	}
	return nil
}

// dataExtents returns m's extents without its zeroed ranges: what a
// capture reads.
func dataExtents(m *Map) []Extent {
	var out []Extent
	k := 0
	for _, e := range m.Extents {
		pos := e.Off
		for ; k < len(m.Zeroed) && m.Zeroed[k].Off < e.End(); k++ {
			if z := m.Zeroed[k]; z.Off > pos {
				out = append(out, Extent{pos, z.Off - pos})
			}
			pos = max(pos, m.Zeroed[k].End())
		}
		if pos < e.End() {
			out = append(out, Extent{pos, e.End() - pos})
		}
	}
	return out
}

// copyUsed copies only m's extents of src, but not its zeroed ranges, into
// a new zero-filled file of the same size and returns its path: what a
// restore onto a blank disk leaves.
func copyUsed(t testing.TB, src string, m *Map) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	dst := src + ".copy"
	testutil.SparseFile(t, dst, fi.Size())
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range dataExtents(m) {
		if _, err := io.Copy(io.NewOffsetWriter(out, e.Off), io.NewSectionReader(in, e.Off, e.Len)); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// sameTree fails t unless every file named in names has identical contents
// under a and b.
func sameTree(t testing.TB, a, b string, names []string) {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("no files to compare")
	}
	for _, n := range names {
		x, err := os.ReadFile(filepath.Join(a, n))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, n))
		if err != nil {
			t.Errorf("file %s did not come back: %v", n, err)
			continue
		}
		if !bytes.Equal(x, y) {
			t.Errorf("file %s differs after copying only the used extents (%d bytes, want %d)", n, len(y), len(x))
		}
	}
}

// listTree returns the regular files under dir, relative to it.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
