// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package storetest is the conformance suite every store.Store passes.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rewind-backup/rewind/pkg/store"
)

// Run runs the suite against stores made by open, each empty. secrets are
// the credentials the stores were opened with (a password), which must not
// show in what a store prints about itself.
func Run(t *testing.T, open func(t *testing.T) store.Store, secrets ...string) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SaveRead", testSaveRead},
		{"Missing", testMissing},
		{"ReadAt", testReadAt},
		{"Replace", testReplace},
		{"List", testList},
		{"Remove", testRemove},
		{"InvalidNames", testInvalidNames},
		{"Concurrent", testConcurrent},
		{"Location", func(t *testing.T, s store.Store) { testLocation(t, s, secrets) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

func data(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func testSaveRead(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		size int
	}{
		{"top", 10},
		{"empty", 0},
		{"a/b/c/deep", 1000},
		{"chunks/ab/big", 5<<20 + 17}, // more than one SMB write
	} {
		want := data(uint64(tc.size), tc.size)
		if err := s.Save(ctx, tc.name, want); err != nil {
			t.Fatalf("Save(%s) = %v", tc.name, err)
		}
		got, err := s.ReadFile(ctx, tc.name)
		if err != nil {
			t.Fatalf("ReadFile(%s) = %v", tc.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ReadFile(%s) = %d bytes differing from the %d saved", tc.name, len(got), len(want))
		}
		fi, err := s.Stat(ctx, tc.name)
		if err != nil {
			t.Fatalf("Stat(%s) = %v", tc.name, err)
		}
		if fi.Size != int64(tc.size) {
			t.Errorf("Stat(%s).Size = %d, want %d", tc.name, fi.Size, tc.size)
		}
	}
}

func testMissing(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Stat(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(nope) = %v, want fs.ErrNotExist", err)
	}
	if _, err := s.ReadFile(ctx, "dir/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(dir/nope) = %v, want fs.ErrNotExist", err)
	}
	if _, err := s.ReadAt(ctx, "nope", make([]byte, 4), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadAt(nope) = %v, want fs.ErrNotExist", err)
	}
	if err := s.Remove(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove(nope) = %v, want fs.ErrNotExist", err)
	}
	if !store.IsPermanent(fmt.Errorf("x: %w", fs.ErrNotExist)) {
		t.Errorf("IsPermanent(not exist) = false, want true")
	}
}

func testReadAt(t *testing.T, s store.Store) {
	ctx := context.Background()
	want := data(7, 3<<20)
	if err := s.Save(ctx, "f", want); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off, n  int
		wantN   int
		wantEOF bool
	}{
		{0, 100, 100, false},
		{1 << 20, 2 << 20, 2 << 20, false},
		{3<<20 - 10, 10, 10, false},
		{3<<20 - 10, 20, 10, true},
		{3 << 20, 1, 0, true},
	} {
		p := make([]byte, tc.n)
		n, err := s.ReadAt(ctx, "f", p, int64(tc.off))
		if n != tc.wantN {
			t.Errorf("ReadAt(off %d, len %d) = %d bytes, want %d", tc.off, tc.n, n, tc.wantN)
		}
		if tc.wantEOF != (err == io.EOF) || (!tc.wantEOF && err != nil) {
			t.Errorf("ReadAt(off %d, len %d) error = %v, want EOF %v", tc.off, tc.n, err, tc.wantEOF)
		}
		if !bytes.Equal(p[:n], want[tc.off:tc.off+n]) {
			t.Errorf("ReadAt(off %d, len %d) returned the wrong bytes", tc.off, tc.n)
		}
	}
}

func testReplace(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, content := range []string{"first version, longer", "second"} {
		if err := s.Save(ctx, "d/f", []byte(content)); err != nil {
			t.Fatalf("Save #%d = %v", i, err)
		}
		got, err := s.ReadFile(ctx, "d/f")
		if err != nil || string(got) != content {
			t.Errorf("ReadFile after Save #%d = %q, %v; want %q", i, got, err, content)
		}
	}
}

func list(t *testing.T, s store.Store, dir string) []string {
	t.Helper()
	var names []string
	err := s.List(context.Background(), dir, func(fi store.Info) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q) = %v", dir, err)
	}
	sort.Strings(names)
	return names
}

func testList(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, n := range []string{"top1", "top2", "d/x", "d/y", "d/sub/z"} {
		if err := s.Save(ctx, n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{"", []string{"top1", "top2"}},
		{"d", []string{"x", "y"}},
		{"d/sub", []string{"z"}},
		{"missing", nil},
	} {
		if diff := cmp.Diff(tc.want, list(t, s, tc.dir)); diff != "" {
			t.Errorf("List(%q) mismatch (-want +got), temporaries left over or directories listed?\n%s", tc.dir, diff)
		}
	}
	var sizes []int64
	s.List(ctx, "d", func(fi store.Info) error {
		sizes = append(sizes, fi.Size)
		if fi.ModTime.IsZero() {
			t.Errorf("List(d): %s has no modification time", fi.Name)
		}
		return nil
	})
	if diff := cmp.Diff([]int64{3, 3}, sizes); diff != "" {
		t.Errorf("List(d) sizes mismatch (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	calls := 0
	err := s.List(ctx, "d", func(store.Info) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List with a failing callback = %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func testRemove(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Save(ctx, "d/f", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "d/f"); err != nil {
		t.Fatalf("Remove(d/f) = %v", err)
	}
	if _, err := s.Stat(ctx, "d/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat after Remove = %v, want fs.ErrNotExist", err)
	}
	if got := list(t, s, "d"); len(got) != 0 {
		t.Errorf("List(d) after Remove = %v, want nothing", got)
	}
}

func testInvalidNames(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, n := range []string{"", "/abs", "a/../b", "a//b", "..", "back\\slash", "sp ace", "a/"} {
		err := s.Save(ctx, n, []byte("x"))
		if err == nil {
			t.Errorf("Save(%q) = nil, want an error", n)
			continue
		}
		if !errors.Is(err, store.ErrPermanent) {
			t.Errorf("Save(%q) = %v, want it to wrap ErrPermanent", n, err)
		}
	}
}

// testConcurrent has workers save the same file over and over, each its own
// full-length content, while they read it back: every read must be exactly
// one worker's whole content, never a mix or a truncated file.
func testConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers, rounds = 8, 4
	versions := make([][]byte, workers)
	for w := range versions {
		versions[w] = data(uint64(100+w), 256<<10)
	}
	which := func(b []byte) int {
		for w, v := range versions {
			if bytes.Equal(b, v) {
				return w
			}
		}
		return -1
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				// Every worker saves the shared file and its own files, as
				// two captures writing the same index do.
				if err := s.Save(ctx, "shared/same", versions[w]); err != nil {
					errs[w] = err
					return
				}
				name := fmt.Sprintf("own/%d-%d", w, i)
				if err := s.Save(ctx, name, []byte(name)); err != nil {
					errs[w] = err
					return
				}
				got, err := s.ReadFile(ctx, "shared/same")
				if err != nil {
					errs[w] = err
					return
				}
				if which(got) < 0 {
					errs[w] = fmt.Errorf("round %d: ReadFile(shared/same) = %d bytes that are no whole saved version (a partial file?)", i, len(got))
					return
				}
			}
		})
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", w, err)
		}
	}
	got, err := s.ReadFile(ctx, "shared/same")
	if err != nil || which(got) < 0 {
		t.Errorf("shared/same after concurrent saves: %d bytes, %v; want one whole saved version", len(got), err)
	}
	if n := len(list(t, s, "own")); n != workers*rounds {
		t.Errorf("List(own) = %d files, want %d", n, workers*rounds)
	}
	if names := list(t, s, "shared"); len(names) != 1 {
		t.Errorf("List(shared) = %v, want only same (temporaries left over?)", names)
	}
}

func testLocation(t *testing.T, s store.Store, secrets []string) {
	if s.Location() == "" {
		t.Errorf("Location() is empty")
	}
	for _, secret := range secrets {
		if secret == "" {
			t.Fatalf("storetest.Run given an empty secret: pass the password the store was opened with")
		}
		if strings.Contains(s.Location(), secret) {
			t.Errorf("Location() shows the password the store was opened with (not printed here)")
		}
	}
}
