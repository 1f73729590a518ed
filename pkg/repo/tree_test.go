// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/pierrec/lz4/v4"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
)

// sampleTree has an entry of every kind, with every field set somewhere.
func sampleTree() *Tree {
	other := chunk.Hash([]byte("another pack"))
	return &Tree{Nodes: []Node{
		{Name: "a file with spaces", Type: NodeFile, Mode: 0o644, Size: 7, MTime: 1700000000123456789, CTime: -5, Inode: 42, Dev: 2049, Links: 2,
			UID: 1000, GID: 1000, User: "jane", Group: "staff", Xattrs: []Xattr{{"user.a", []byte("1")}, {"user.b", nil}},
			Content: []Blob{{ID: chunk.Hash([]byte("x")), Off: 0, Len: 12, Size: 3}, {ID: chunk.Hash([]byte("y")), Pack: other, Off: 99, Len: 13, Size: 4}}},
		{Name: "dev", Type: NodeDevice, Mode: 0o20644, Rdev: 259},
		{Name: "dir", Type: NodeDir, Mode: 0o1777, Subtree: &Blob{ID: chunk.Hash([]byte("t")), Pack: other, Off: 5, Len: 40, Size: 31}},
		{Name: "link", Type: NodeSymlink, Mode: 0o777, Target: "../x\nnew line"},
		{Name: "locked.pst", Type: NodeFile, Size: 100, Unread: true},
		{Name: strings.Repeat("é", 127), Type: NodeFile, Attrs: 0x20, Birth: 1234, Security: []byte{1, 0, 4, 0x80}},
	}}
}

func TestTreeRoundTrip(t *testing.T) {
	tr := sampleTree()
	data, err := EncodeTree(tr)
	if err != nil {
		t.Fatal(err)
	}
	self := chunk.Hash([]byte("self"))
	got, err := DecodeTree(data, self)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleTree()
	want.Nodes[0].Content[0].Pack = self // a zero pack is the tree's own
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("DecodeTree(EncodeTree(t)) differs (-want +got):\n%s", diff)
	}
}

func TestTreeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   *Tree
		want string
	}{
		{"slash", &Tree{Nodes: []Node{{Name: "a/b", Type: NodeFile}}}, "holds a '/'"},
		{"dotdot", &Tree{Nodes: []Node{{Name: "..", Type: NodeDir}}}, "not a name"},
		{"order", &Tree{Nodes: []Node{{Name: "b", Type: NodeFile}, {Name: "a", Type: NodeFile}}}, "not in order"},
		{"twice", &Tree{Nodes: []Node{{Name: "a", Type: NodeFile}, {Name: "a", Type: NodeFile}}}, "not in order"},
	} {
		if _, err := EncodeTree(tc.tr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: EncodeTree = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	// A decoder refuses what an encoder would not write, and what does
	// not add up.
	good, err := EncodeTree(&Tree{Nodes: []Node{{Name: "f", Type: NodeFile, Size: 3, Content: []Blob{{ID: chunk.Hash([]byte("abc")), Len: 12, Size: 3}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeTree(good, chunk.ID{}); err != nil {
		t.Fatal(err)
	}
	evil := []byte(strings.Replace(string(good), "\x01\x01f", "\x01\x01/", 1))
	for name, data := range map[string][]byte{
		"truncated": good[:len(good)-1],
		"longer":    append(append([]byte(nil), good...), 0),
		"magic":     append([]byte("RWT2"), good[4:]...),
		"slash":     evil,
	} {
		if _, err := DecodeTree(data, chunk.ID{}); !errors.Is(err, ErrTreeCorrupt) {
			t.Errorf("%s: DecodeTree = %v, want ErrTreeCorrupt", name, err)
		}
	}
	sizeLie, _ := EncodeTree(&Tree{Nodes: []Node{{Name: "f", Type: NodeFile, Size: 4, Content: []Blob{{ID: chunk.Hash([]byte("abc")), Len: 12, Size: 3}}}}})
	if _, err := DecodeTree(sizeLie, chunk.ID{}); !errors.Is(err, ErrTreeCorrupt) || !strings.Contains(err.Error(), "adds up to 3") {
		t.Errorf("size that does not add up: DecodeTree = %v, want ErrTreeCorrupt naming the sum", err)
	}
}

// TestTreeSaver saves a folder and its subfolder into one pack, and reads
// them back by the root's place after the pack has its name.
func TestTreeSaver(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepoV(t, 2)
	idx, err := r.LoadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := r.NewSaver(idx)
	data := []byte("file content")
	id := chunk.Hash(data)
	if err := s.Save(ctx, pack.Data, id, chunk.Encode(new(lz4.Compressor), nil, data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l, _ := idx.Lookup(id)
	file := Node{Name: "f", Type: NodeFile, Size: uint64(len(data)), Content: []Blob{{ID: id, Pack: idx.Pack(l.Pack), Off: l.Off, Len: l.Len, Size: uint32(len(data))}}}
	ts := s.NewTreeSaver()
	sub, err := ts.Save(ctx, &Tree{Nodes: []Node{file}})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Pack != (chunk.ID{}) {
		t.Fatalf("a subtree in the pack being filled has pack %s, want none yet", sub.Pack.Short())
	}
	root, err := ts.Save(ctx, &Tree{Nodes: []Node{{Name: "d", Type: NodeDir, Subtree: &sub}}})
	if err != nil {
		t.Fatal(err)
	}
	if root, err = ts.Flush(ctx, root); err != nil {
		t.Fatal(err)
	}
	f := &Files{Paths: []string{"/d"}}
	f.SetRoot(root)
	var ids []chunk.ID
	if err := r.WalkFiles(ctx, f, func(id chunk.ID) bool { ids = append(ids, id); return true }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || ids[0] != root.ID || ids[1] != sub.ID || ids[2] != id {
		t.Errorf("WalkFiles named %v, want the root tree, the subtree, the file's blob", ids)
	}
	// The same trees again are not stored again.
	again, err := ts.Save(ctx, &Tree{Nodes: []Node{file}})
	if err != nil || again.ID != sub.ID || again.Pack == (chunk.ID{}) {
		t.Errorf("saving a stored tree again = %+v, %v; want its place in its saved pack", again, err)
	}
}

func FuzzDecodeTree(f *testing.F) {
	tr := sampleTree()
	data, err := EncodeTree(tr)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	empty, _ := EncodeTree(&Tree{})
	f.Add(empty)
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := DecodeTree(data, chunk.ID{1})
		if err != nil {
			if !errors.Is(err, ErrTreeCorrupt) {
				t.Fatalf("DecodeTree error %v does not wrap ErrTreeCorrupt", err)
			}
			return
		}
		// What decodes encodes, and decodes to the same.
		again, err := EncodeTree(tr)
		if err != nil {
			t.Fatalf("EncodeTree of a decoded tree: %v", err)
		}
		tr2, err := DecodeTree(again, chunk.ID{1})
		if err != nil {
			t.Fatalf("DecodeTree of a re-encoded tree: %v", err)
		}
		if diff := cmp.Diff(tr, tr2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("re-encoded tree differs:\n%s", diff)
		}
	})
}
