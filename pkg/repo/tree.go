// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/pierrec/lz4/v4"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
)

// A files snapshot is a tree of folders. Each folder is one blob of type
// pack.Tree: its entries, sorted by name, with their metadata, the blobs of
// each file's content and the blob of each subfolder, every blob named with
// its place (pack, offset, length). docs/FORMAT.md has the bytes.

// Node types.
const (
	NodeFile    = 1
	NodeDir     = 2
	NodeSymlink = 3
	NodeDevice  = 4 // a device, FIFO or socket: recorded, no content
	NodeReparse = 5 // a Windows reparse point that is not a symlink (junction, cloud placeholder)
)

// Blob names a blob and where it lies. Pack is zero, in a tree being
// built, for a blob in the pack the tree itself goes into.
type Blob struct {
	ID   chunk.ID
	Pack chunk.ID
	Off  uint32
	Len  uint32 // as stored
	Size uint32 // plaintext
}

// Xattr is an extended attribute.
type Xattr struct {
	Name  string
	Value []byte
}

// Node is one entry of a folder.
type Node struct {
	Name  string // one path component, any bytes but '/' and NUL
	Type  byte
	Mode  uint32 // permission and special bits (07777); a device's also its type (S_IFCHR…)
	Size  uint64
	MTime int64 // nanoseconds since 1970 UTC
	CTime int64 // change time, for the next backup's comparison only
	Inode uint64
	Dev   uint64
	Links uint32
	UID   uint32
	GID   uint32
	User  string
	Group string
	// Target is a symlink's target, as bytes.
	Target string
	// Rdev is a device's number.
	Rdev    uint64
	Xattrs  []Xattr
	Content []Blob // a file's content, in order
	Subtree *Blob  // a folder's tree
	// Windows: file attributes, creation time, and the security
	// descriptor (self-relative, binary).
	Attrs    uint32
	Birth    int64
	Security []byte
	// Unread marks a file or folder the backup could not read (the
	// snapshot's problems say why): it has no content or entries, and a
	// replay leaves what the target has there alone.
	Unread bool
}

// Tree is a folder: its entries, sorted by name.
type Tree struct {
	Nodes []Node
}

const treeMagic = "RWT1"

// Field tags of a node. A reader skips tags it does not know: a newer
// writer may add metadata; nothing that changes how to read the rest may
// become a tag.
const (
	tagName = 1 + iota
	tagType
	tagMode
	tagSize
	tagMTime
	tagCTime
	tagInode
	tagDev
	tagLinks
	tagUID
	tagGID
	tagUser
	tagGroup
	tagTarget
	tagRdev
	tagXattr
	tagContent
	tagSubtree
	tagAttrs
	tagBirth
	tagSecurity
	tagUnread
)

// MaxNameLen bounds a node's name: 255 UTF-16 units of a Windows name are
// at most 765 bytes of UTF-8.
const MaxNameLen = 1024

// EncodeTree returns the bytes of t. Its nodes must be sorted by name,
// each name valid. Blob packs are written as a table; a zero pack is
// "the pack this tree is in".
func EncodeTree(t *Tree) ([]byte, error) {
	var packs []chunk.ID
	packIdx := map[chunk.ID]uint64{}
	idx := func(p chunk.ID) uint64 {
		if p == (chunk.ID{}) {
			return 0
		}
		if i, ok := packIdx[p]; ok {
			return i
		}
		packs = append(packs, p)
		packIdx[p] = uint64(len(packs))
		return uint64(len(packs))
	}
	var body []byte
	var rec, field []byte
	for k := range t.Nodes {
		n := &t.Nodes[k]
		if err := validName(n.Name); err != nil {
			return nil, err
		}
		if k > 0 && t.Nodes[k-1].Name >= n.Name {
			return nil, fmt.Errorf("tree entries %q and %q are not in order", t.Nodes[k-1].Name, n.Name)
		}
		rec = rec[:0]
		put := func(tag int, v []byte) {
			rec = binary.AppendUvarint(rec, uint64(tag))
			rec = binary.AppendUvarint(rec, uint64(len(v)))
			rec = append(rec, v...)
		}
		putU := func(tag int, v uint64) {
			field = binary.AppendUvarint(field[:0], v)
			put(tag, field)
		}
		putI := func(tag int, v int64) {
			field = binary.AppendVarint(field[:0], v)
			put(tag, field)
		}
		blob := func(b *Blob) []byte {
			field = append(field[:0], b.ID[:]...)
			field = binary.AppendUvarint(field, idx(b.Pack))
			field = binary.AppendUvarint(field, uint64(b.Off))
			field = binary.AppendUvarint(field, uint64(b.Len))
			field = binary.AppendUvarint(field, uint64(b.Size))
			return field
		}
		put(tagName, []byte(n.Name))
		put(tagType, []byte{n.Type})
		putU(tagMode, uint64(n.Mode))
		putU(tagSize, n.Size)
		putI(tagMTime, n.MTime)
		putI(tagCTime, n.CTime)
		putU(tagInode, n.Inode)
		putU(tagDev, n.Dev)
		putU(tagLinks, uint64(n.Links))
		putU(tagUID, uint64(n.UID))
		putU(tagGID, uint64(n.GID))
		if n.User != "" {
			put(tagUser, []byte(n.User))
		}
		if n.Group != "" {
			put(tagGroup, []byte(n.Group))
		}
		if n.Type == NodeSymlink || n.Target != "" {
			put(tagTarget, []byte(n.Target))
		}
		if n.Rdev != 0 {
			putU(tagRdev, n.Rdev)
		}
		for _, x := range n.Xattrs {
			field = binary.AppendUvarint(field[:0], uint64(len(x.Name)))
			field = append(field, x.Name...)
			field = append(field, x.Value...)
			put(tagXattr, field)
		}
		if len(n.Content) > 0 {
			var c []byte
			c = binary.AppendUvarint(c, uint64(len(n.Content)))
			for i := range n.Content {
				c = append(c, blob(&n.Content[i])...)
			}
			put(tagContent, c)
		}
		if n.Subtree != nil {
			put(tagSubtree, blob(n.Subtree))
		}
		if n.Attrs != 0 {
			putU(tagAttrs, uint64(n.Attrs))
		}
		if n.Birth != 0 {
			putI(tagBirth, n.Birth)
		}
		if len(n.Security) > 0 {
			put(tagSecurity, n.Security)
		}
		if n.Unread {
			put(tagUnread, nil)
		}
		body = binary.AppendUvarint(body, uint64(len(rec)))
		body = append(body, rec...)
	}
	out := append([]byte(treeMagic), binary.AppendUvarint(nil, uint64(len(packs)))...)
	for _, p := range packs {
		out = append(out, p[:]...)
	}
	out = binary.AppendUvarint(out, uint64(len(t.Nodes)))
	return append(out, body...), nil
}

// validName checks a node's name: a reader must never be led out of the
// folder it restores into.
func validName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("entry name %q is not a name", name)
	case len(name) > MaxNameLen:
		return fmt.Errorf("entry name of %d bytes is longer than %d", len(name), MaxNameLen)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("entry name %q holds a '/' or a NUL", name)
	}
	return nil
}

// ErrTreeCorrupt marks a tree blob that does not parse.
var ErrTreeCorrupt = errors.New("folder tree is corrupt")

// DecodeTree parses the bytes of a tree, read from pack self (what a zero
// pack index stands for). Every error wraps ErrTreeCorrupt.
func DecodeTree(data []byte, self chunk.ID) (*Tree, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrTreeCorrupt)
	}
	if !bytes.HasPrefix(data, []byte(treeMagic)) {
		return nil, bad("not a rewind folder tree (bad magic)")
	}
	p := data[len(treeMagic):]
	uv := func(what string) (uint64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, bad("%s: bad number", what)
		}
		p = p[n:]
		return v, nil
	}
	np, err := uv("pack count")
	if err != nil {
		return nil, err
	}
	if np > uint64(len(p)/32) {
		return nil, bad("%d packs named in %d bytes", np, len(p))
	}
	packs := make([]chunk.ID, np+1)
	packs[0] = self
	for i := 1; i <= int(np); i++ {
		copy(packs[i][:], p[:32])
		p = p[32:]
	}
	nn, err := uv("entry count")
	if err != nil {
		return nil, err
	}
	// An entry takes at least its length and a name (3 bytes).
	if nn > uint64(len(p)/4+1) {
		return nil, bad("%d entries in %d bytes", nn, len(p))
	}
	t := &Tree{Nodes: make([]Node, 0, nn)}
	for range nn {
		l, err := uv("entry length")
		if err != nil {
			return nil, err
		}
		if l > uint64(len(p)) {
			return nil, bad("entry of %d bytes in %d", l, len(p))
		}
		n, err := decodeNode(p[:l], packs)
		if err != nil {
			return nil, bad("entry %d: %v", len(t.Nodes)+1, err)
		}
		if k := len(t.Nodes); k > 0 && t.Nodes[k-1].Name >= n.Name {
			return nil, bad("entries %q and %q are not in order", t.Nodes[k-1].Name, n.Name)
		}
		t.Nodes = append(t.Nodes, n)
		p = p[l:]
	}
	if len(p) != 0 {
		return nil, bad("%d bytes after the last entry", len(p))
	}
	return t, nil
}

func decodeNode(rec []byte, packs []chunk.ID) (Node, error) {
	var n Node
	var seenName, seenType bool
	for len(rec) > 0 {
		tag, k := binary.Uvarint(rec)
		if k <= 0 {
			return n, errors.New("bad field tag")
		}
		rec = rec[k:]
		l, k := binary.Uvarint(rec)
		if k <= 0 || l > uint64(len(rec)-k) {
			return n, fmt.Errorf("field %d: bad length", tag)
		}
		v := rec[k : k+int(l)]
		rec = rec[k+int(l):]
		u := func() (uint64, error) {
			x, k := binary.Uvarint(v)
			if k <= 0 || k != len(v) {
				return 0, fmt.Errorf("field %d: bad number", tag)
			}
			return x, nil
		}
		i := func() (int64, error) {
			x, k := binary.Varint(v)
			if k <= 0 || k != len(v) {
				return 0, fmt.Errorf("field %d: bad number", tag)
			}
			return x, nil
		}
		u32 := func(dst *uint32) error {
			x, err := u()
			if err == nil && x > 1<<32-1 {
				err = fmt.Errorf("field %d: %d is out of range", tag, x)
			}
			*dst = uint32(x)
			return err
		}
		var err error
		switch tag {
		case tagName:
			n.Name, seenName = string(v), true
			err = validName(n.Name)
		case tagType:
			if len(v) != 1 || v[0] < NodeFile || v[0] > NodeReparse {
				return n, fmt.Errorf("unknown entry type %v", v)
			}
			n.Type, seenType = v[0], true
		case tagMode:
			err = u32(&n.Mode)
		case tagSize:
			n.Size, err = u()
		case tagMTime:
			n.MTime, err = i()
		case tagCTime:
			n.CTime, err = i()
		case tagInode:
			n.Inode, err = u()
		case tagDev:
			n.Dev, err = u()
		case tagLinks:
			err = u32(&n.Links)
		case tagUID:
			err = u32(&n.UID)
		case tagGID:
			err = u32(&n.GID)
		case tagUser:
			n.User = string(v)
		case tagGroup:
			n.Group = string(v)
		case tagTarget:
			n.Target = string(v)
		case tagRdev:
			n.Rdev, err = u()
		case tagXattr:
			nl, k := binary.Uvarint(v)
			if k <= 0 || nl > uint64(len(v)-k) {
				return n, errors.New("bad extended attribute")
			}
			n.Xattrs = append(n.Xattrs, Xattr{Name: string(v[k : k+int(nl)]), Value: bytes.Clone(v[k+int(nl):])})
		case tagContent:
			cnt, k := binary.Uvarint(v)
			// A blob reference takes at least 36 bytes.
			if k <= 0 || cnt > uint64(len(v)/36) {
				return n, errors.New("bad content list")
			}
			v = v[k:]
			n.Content = make([]Blob, 0, cnt)
			for range cnt {
				var b Blob
				if v, err = decodeBlob(v, packs, &b); err != nil {
					return n, err
				}
				n.Content = append(n.Content, b)
			}
			if len(v) != 0 {
				return n, errors.New("bytes after the content list")
			}
		case tagSubtree:
			var b Blob
			rest, err := decodeBlob(v, packs, &b)
			if err != nil {
				return n, err
			}
			if len(rest) != 0 {
				return n, errors.New("bytes after the subtree")
			}
			n.Subtree = &b
		case tagAttrs:
			err = u32(&n.Attrs)
		case tagBirth:
			n.Birth, err = i()
		case tagSecurity:
			n.Security = bytes.Clone(v)
		case tagUnread:
			n.Unread = true
		}
		if err != nil {
			return n, err
		}
	}
	switch {
	case !seenName || !seenType:
		return n, errors.New("no name or no type")
	case n.Mode > 07777 && n.Type != NodeDevice || n.Mode > 0o177777:
		return n, fmt.Errorf("mode %o has more than permission bits", n.Mode)
	case n.Type == NodeDir && n.Subtree == nil:
		return n, fmt.Errorf("folder %q has no tree", n.Name)
	case n.Type != NodeDir && n.Subtree != nil:
		return n, fmt.Errorf("%q is not a folder but has a tree", n.Name)
	case n.Type != NodeFile && len(n.Content) > 0:
		return n, fmt.Errorf("%q is not a file but has content", n.Name)
	}
	if n.Type == NodeFile && !n.Unread {
		var sum uint64
		for _, b := range n.Content {
			sum += uint64(b.Size)
		}
		if sum != n.Size {
			return n, fmt.Errorf("file %q is %d bytes but its content adds up to %d", n.Name, n.Size, sum)
		}
	}
	return n, nil
}

func decodeBlob(v []byte, packs []chunk.ID, b *Blob) ([]byte, error) {
	if len(v) < 32 {
		return nil, errors.New("short blob reference")
	}
	copy(b.ID[:], v[:32])
	v = v[32:]
	var vals [4]uint64
	for k := range vals {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			return nil, errors.New("bad blob reference")
		}
		vals[k] = x
		v = v[n:]
	}
	switch {
	case vals[0] >= uint64(len(packs)):
		return nil, fmt.Errorf("blob %s: pack %d of %d", b.ID.Short(), vals[0], len(packs)-1)
	case vals[1] > pack.MaxSize || vals[2] < 9 || vals[2] > pack.MaxSize || vals[3] > MaxChunkSize:
		return nil, fmt.Errorf("blob %s: place or size out of range", b.ID.Short())
	}
	b.Pack = packs[vals[0]]
	b.Off, b.Len, b.Size = uint32(vals[1]), uint32(vals[2]), uint32(vals[3])
	return v, nil
}

// LoadBlob reads blob b (a data or tree blob) and returns its plaintext,
// checked against its id, and the pack it was read from. The place is a
// hint: when its pack is gone or holds something else there (a prune
// repacked it), the blob is looked up in the index files.
func (r *Repository) LoadBlob(ctx context.Context, b Blob, buf []byte) ([]byte, chunk.ID, error) {
	if !r.Packed() {
		p, err := r.LoadChunk(ctx, b.ID, buf)
		return p, chunk.ID{}, err
	}
	enc, pk, err := r.readMoved(ctx, nil, b.ID, b.Pack, b.Off, b.Len)
	var p []byte
	if err == nil {
		p, err = r.DecodeChunk(enc, b.ID, buf)
	}
	if !errors.Is(err, chunk.ErrCorrupt) {
		return p, pk, err
	}
	// A tree names subtrees in its own pack by offset; after a repack that
	// is the new pack, where the offset may hold something else. Look the
	// blob up; where the index agrees with the place, the blob is damaged.
	for try := 0; try < 2; try++ {
		l, pk2, ok, lerr := r.relocate(ctx, nil, b.ID, try == 1)
		switch {
		case lerr != nil:
			return nil, pk, lerr
		case !ok:
			return nil, pk, err
		case pk2 == pk && l.Off == b.Off:
			continue
		}
		enc2, err2 := r.readBlob(ctx, pk2, l.Off, l.Len)
		if err2 == nil {
			p, err2 = r.DecodeChunk(enc2, b.ID, buf)
		}
		if !errors.Is(err2, fs.ErrNotExist) {
			return p, pk2, err2
		}
	}
	return nil, pk, err
}

// BlobsAdjacent reports whether blob b follows blob a in the same pack: a
// replay reads such runs with one LoadBlobs. Format 1 has no packs.
func BlobsAdjacent(a, b Blob) bool {
	return a.Pack != (chunk.ID{}) && b.Pack == a.Pack && int64(b.Off) == int64(a.Off)+int64(a.Len)
}

// LoadBlobs reads data blobs bs, which lie one after the other in one pack
// (BlobsAdjacent) and take at most MaxRunBytes there (or are one blob of
// any size), in one request, and calls fn with each one's plaintext,
// checked against its id, in order; fn must not keep p. Where the run
// cannot be read as a whole (its pack is gone, a prune repacked it) or a
// blob in it does not check, that blob is loaded on its own (LoadBlob),
// which looks it up in the index files.
func (r *Repository) LoadBlobs(ctx context.Context, bs []Blob, fn func(k int, p []byte) error) error {
	var run []byte
	var err error
	if len(bs) > 1 {
		var n int64
		for k := range bs {
			if !r.Packed() || k > 0 && !BlobsAdjacent(bs[k-1], bs[k]) {
				return fmt.Errorf("blobs %s…: not one run of a pack (internal error)", bs[0].ID.Short())
			}
			n += int64(bs[k].Len)
		}
		if n > MaxRunBytes {
			return fmt.Errorf("blobs %s…: a run of %d bytes, more than %d (internal error)", bs[0].ID.Short(), n, MaxRunBytes)
		}
		run, err = r.readRun(ctx, bs[0].Pack, int64(bs[0].Off), n)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, chunk.ErrCorrupt) {
			return err
		}
	}
	var buf []byte
	for k, b := range bs {
		var p []byte
		if run != nil {
			at := int64(b.Off) - int64(bs[0].Off)
			p, err = r.DecodeChunk(run[at:at+int64(b.Len):at+int64(b.Len)], b.ID, buf)
		}
		if run == nil || err != nil {
			p, _, err = r.LoadBlob(ctx, b, buf)
		}
		if err != nil {
			return err
		}
		if err := fn(k, p); err != nil {
			return err
		}
		if cap(p) > cap(buf) {
			buf = p[:0]
		}
	}
	return nil
}

// LoadTree reads and parses the tree in blob b.
func (r *Repository) LoadTree(ctx context.Context, b Blob) (*Tree, error) {
	p, pk, err := r.LoadBlob(ctx, b, nil)
	if err != nil {
		return nil, fmt.Errorf("reading folder tree %s: %w", b.ID.Short(), err)
	}
	t, err := DecodeTree(p, pk)
	if err != nil {
		return nil, fmt.Errorf("folder tree %s: %w", b.ID.Short(), err)
	}
	return t, nil
}

// TreeSaver stores the trees of a files snapshot, children before their
// parents, in packs of their own: a tree may then name a subtree in the
// pack it is in before that pack has a name.
type TreeSaver struct {
	s   *Saver
	w   *pack.Writer
	cur map[chunk.ID]pack.Blob // the blobs in w
}

// NewTreeSaver returns a TreeSaver that saves through s.
func (s *Saver) NewTreeSaver() *TreeSaver {
	return &TreeSaver{s: s, cur: make(map[chunk.ID]pack.Blob)}
}

// place returns where blob id lies now: in the pack being filled (a zero
// pack), or as the index says.
func (t *TreeSaver) place(id chunk.ID, size uint32) (Blob, bool) {
	if b, ok := t.cur[id]; ok {
		return Blob{ID: id, Off: b.Offset, Len: b.Length, Size: size}, true
	}
	if l, ok := t.s.idx.Lookup(id); ok && l.Pack >= 0 {
		return Blob{ID: id, Pack: t.s.idx.Pack(l.Pack), Off: l.Off, Len: l.Len, Size: size}, true
	}
	return Blob{}, false
}

// Save stores tree tr, whose subtrees were saved by this TreeSaver (or are
// in the repository), and returns its blob. A tree the repository holds
// already is not stored again.
func (t *TreeSaver) Save(ctx context.Context, tr *Tree) (Blob, error) {
	if !t.s.r.Packed() {
		return Blob{}, errors.New("files snapshots need a repository of format 2 or later")
	}
	for k := range tr.Nodes {
		n := &tr.Nodes[k]
		if n.Subtree == nil {
			continue
		}
		b, ok := t.place(n.Subtree.ID, n.Subtree.Size)
		if !ok {
			return Blob{}, fmt.Errorf("folder %q: its tree %s was not saved (internal error)", n.Name, n.Subtree.ID.Short())
		}
		n.Subtree = &b
	}
	data, err := EncodeTree(tr)
	if err != nil {
		return Blob{}, err
	}
	if len(data) > t.s.r.cfg.MaxChunkSize {
		return Blob{}, fmt.Errorf("a folder of %d entries is %d bytes as a tree, more than the %d a blob may hold", len(tr.Nodes), len(data), t.s.r.cfg.MaxChunkSize)
	}
	id := chunk.Hash(data)
	if b, ok := t.place(id, uint32(len(data))); ok {
		return b, nil
	}
	var lz lz4.Compressor
	enc := chunk.Encode(&lz, nil, data)
	size := t.s.r.packSize()
	if t.w == nil {
		t.w = pack.NewWriter(size + size/8)
	}
	t.w.Add(pack.Tree, id, enc)
	blobs := t.w.Blobs()
	t.cur[id] = blobs[len(blobs)-1]
	b, _ := t.place(id, uint32(len(data)))
	if t.w.Size() >= size {
		if err := t.finish(ctx); err != nil {
			return Blob{}, err
		}
	}
	return b, nil
}

// finish saves the pack being filled.
func (t *TreeSaver) finish(ctx context.Context) error {
	if t.w == nil || t.w.Len() == 0 {
		return nil
	}
	blobs := append([]pack.Blob(nil), t.w.Blobs()...)
	data, name := t.w.Finish()
	clear(t.cur)
	return t.s.savePack(ctx, name, data, blobs)
}

// Flush saves the last pack of trees and returns root's place, now final.
func (t *TreeSaver) Flush(ctx context.Context, root Blob) (Blob, error) {
	if err := t.finish(ctx); err != nil {
		return Blob{}, err
	}
	if err := t.s.Flush(ctx); err != nil {
		return Blob{}, err
	}
	b, ok := t.place(root.ID, root.Size)
	if !ok {
		return Blob{}, fmt.Errorf("root tree %s was not saved (internal error)", root.ID.Short())
	}
	return b, nil
}

// WalkFiles calls fn with every blob files snapshot f needs: each tree
// once, then its entries' blobs. fn returns whether the blob is new to
// it; the trees of a subtree it has seen are not walked again.
func (r *Repository) WalkFiles(ctx context.Context, f *Files, fn func(id chunk.ID) bool) error {
	var walk func(b Blob, path string) error
	walk = func(b Blob, path string) error {
		if !fn(b.ID) {
			return nil
		}
		t, err := r.LoadTree(ctx, b)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for k := range t.Nodes {
			n := &t.Nodes[k]
			for _, c := range n.Content {
				fn(c.ID)
			}
			if n.Subtree != nil {
				if err := walk(*n.Subtree, path+n.Name+"/"); err != nil {
					return err
				}
			}
		}
		return ctx.Err()
	}
	return walk(f.Root(), "/")
}
