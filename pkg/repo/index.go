// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/store"
)

// key is the first half of a blob id: what the in-memory sets keep of it,
// so that a repository of years fits in a bounded memory. Two blobs of one
// repository share a key with odds of n²/2¹²⁹ (n the blobs it holds), and
// every reader checks the whole id of what it reads in any case.
type key struct{ hi, lo uint64 }

func keyOf(id chunk.ID) key {
	return key{binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(id[8:16])}
}

func (k key) cmp(o key) int {
	if c := cmp.Compare(k.hi, o.hi); c != 0 {
		return c
	}
	return cmp.Compare(k.lo, o.lo)
}

// BlobSet is a set of blob ids that keeps 16 bytes of each (a key), in a
// sorted slice, with the newest additions in a map until there are enough
// of them to merge. Not safe for concurrent use.
type BlobSet struct {
	sorted  []key
	dir     keyDir // of sorted
	pending map[key]struct{}
}

// mergeAt is how many additions a BlobSet or an Index keeps in a map at
// least before it merges them into its sorted slice; at most an eighth of
// the slice's length, so that merging costs O(n) a blob overall and the
// map (~3× the bytes a key) stays small beside the slice.
const mergeAt = 1 << 16

// Add adds id and reports whether it was new.
func (s *BlobSet) Add(id chunk.ID) bool {
	k := keyOf(id)
	if s.hasSorted(k) {
		return false
	}
	if s.pending == nil {
		s.pending = make(map[key]struct{})
	}
	if _, ok := s.pending[k]; ok {
		return false
	}
	s.pending[k] = struct{}{}
	if len(s.pending) >= max(mergeAt, len(s.sorted)/8) {
		s.merge()
	}
	return true
}

// Has reports whether id was added.
func (s *BlobSet) Has(id chunk.ID) bool {
	k := keyOf(id)
	if _, ok := s.pending[k]; ok {
		return true
	}
	return s.hasSorted(k)
}

// Len returns the number of ids added.
func (s *BlobSet) Len() int { return len(s.sorted) + len(s.pending) }

func (s *BlobSet) hasSorted(k key) bool {
	_, ok := searchKeys(s.sorted, s.dir, k)
	return ok
}

// keyDir is a directory of sorted keys: idx[b] is the index of the first
// key whose leading bits (64-shift of them) are b or more, and one entry
// more holds len(keys). With ids hashed, each slot holds about eight keys,
// so a search of millions of keys is a step into the directory and three
// within a slot, rather than two dozen across the whole slice: most of a
// prune's time was those steps' cache misses.
type keyDir struct {
	shift uint
	idx   []uint32
}

// makeKeyDir returns the directory of sorted keys; none (a plain search is
// as quick) for fewer than 1<<16.
func makeKeyDir(keys []key) keyDir {
	if len(keys) < 1<<16 {
		return keyDir{}
	}
	bits := uint(16)
	for bits < 24 && len(keys)>>bits > 8 {
		bits++
	}
	d := keyDir{shift: 64 - bits, idx: make([]uint32, 1<<bits+1)}
	j := 0
	for b := range 1 << bits {
		for j < len(keys) && keys[j].hi>>d.shift < uint64(b) {
			j++
		}
		d.idx[b] = uint32(j)
	}
	d.idx[1<<bits] = uint32(len(keys))
	return d
}

// searchKeys finds k in sorted keys with their directory dir.
func searchKeys(keys []key, dir keyDir, k key) (int, bool) {
	lo, hi := 0, len(keys)
	if dir.idx != nil {
		b := k.hi >> dir.shift
		lo, hi = int(dir.idx[b]), int(dir.idx[b+1])
	}
	i, ok := slices.BinarySearchFunc(keys[lo:hi], k, key.cmp)
	return lo + i, ok
}

// merge moves the pending keys into the sorted slice.
func (s *BlobSet) merge() {
	if len(s.pending) == 0 {
		return
	}
	add := make([]key, 0, len(s.pending))
	for k := range s.pending {
		add = append(add, k)
	}
	slices.SortFunc(add, key.cmp)
	s.sorted, s.pending = mergeSorted(s.sorted, add, key.cmp), nil
	s.dir = makeKeyDir(s.sorted)
}

// mergeSorted returns the elements of a and b, both sorted by cmp, in one
// sorted slice: a's own array, merged from the back, when it has room for
// b (no second copy of a set that may be most of the memory a command
// takes), else a new one with room for a quarter more.
func mergeSorted[T any](a, b []T, cmp func(T, T) int) []T {
	n := len(a) + len(b)
	if cap(a) < n {
		grown := make([]T, len(a), n+n/4)
		copy(grown, a)
		a = grown
	}
	out := a[:n]
	i, j := len(a)-1, len(b)-1
	for k := n - 1; j >= 0; k-- {
		if i >= 0 && cmp(a[i], b[j]) > 0 {
			out[k] = a[i]
			i--
		} else {
			out[k] = b[j]
			j--
		}
	}
	return out
}

// Grow makes room for n more ids, so that adding them needs no second
// copy of the set.
func (s *BlobSet) Grow(n int) {
	s.sorted = slices.Grow(s.sorted, n)
}

// imageKeys returns the set of img's stored (not zero) chunks.
func imageKeys(img *Image) *BlobSet {
	s := &BlobSet{}
	for i := range img.Disks {
		for _, a := range img.Disks[i].Areas() {
			a.refs(func(id chunk.ID) { s.Add(id) })
		}
	}
	s.merge()
	return s
}

// Loc is where a blob lies: in a pack (an index into Index's pack names),
// at an offset, of a length as stored. In a format-1 repository Pack is -1
// and Len the chunk file's size.
type Loc struct {
	Pack     int32
	Off, Len uint32
}

// Index is what the repository holds: each blob's location. It is a hint
// built from index files (or, in format 1, the chunk folders): a writer
// stores what it does not list, and every reader checks what it reads.
// What was loaded is kept in a sorted slice of 28 bytes a blob; what a
// Saver adds since, in a map. Safe for concurrent use.
type Index struct {
	mu     sync.RWMutex
	packs  []chunk.ID
	pos    map[chunk.ID]int32
	sorted []indexEntry
	added  map[key]Loc
	left   int64
	stored map[chunk.ID]bool // the packs listed when it was loaded, and those added since
}

type indexEntry struct {
	k key
	l Loc
}

func newIndex() *Index {
	return &Index{pos: make(map[chunk.ID]int32), added: make(map[key]Loc), stored: make(map[chunk.ID]bool)}
}

// HasPack reports whether pack name was stored when the index was loaded,
// or was saved since through it: a place in such a pack holds what it
// held, since packs are named by their content and never change.
func (x *Index) HasPack(name chunk.ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.stored[name]
}

// Lookup returns where blob id lies, if the index lists it.
func (x *Index) Lookup(id chunk.ID) (Loc, bool) {
	k := keyOf(id)
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.lookup(k)
}

// lookup is Lookup for a caller that holds mu.
func (x *Index) lookup(k key) (Loc, bool) {
	if l, ok := x.added[k]; ok {
		return l, true
	}
	i, ok := slices.BinarySearchFunc(x.sorted, k, func(e indexEntry, k key) int { return e.k.cmp(k) })
	if !ok {
		return Loc{}, false
	}
	return x.sorted[i].l, true
}

// Pack returns the name of pack number i.
func (x *Index) Pack(i int32) chunk.ID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.packs[i]
}

// Len returns the number of blobs listed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.sorted) + len(x.added)
}

// Left returns about how many blobs the index files list that a bounded
// load (IndexOptions.Max) left out.
func (x *Index) Left() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.left
}

// packNumber returns pack name's number, adding it. The caller holds mu.
func (x *Index) packNumber(name chunk.ID) int32 {
	p, ok := x.pos[name]
	if !ok {
		p = int32(len(x.packs))
		x.packs = append(x.packs, name)
		x.pos[name] = p
	}
	return p
}

// addPack lists the blobs of pack name; a blob listed already keeps its
// first location.
func (x *Index) addPack(name chunk.ID, blobs []pack.Blob) {
	x.mu.Lock()
	defer x.mu.Unlock()
	p := x.packNumber(name)
	x.stored[name] = true
	for _, b := range blobs {
		x.addLocked(keyOf(b.ID), Loc{Pack: p, Off: b.Offset, Len: b.Length})
	}
}

// add lists blob id at l, unless it is listed already (format 1: a chunk
// file).
func (x *Index) add(id chunk.ID, l Loc) {
	x.mu.Lock()
	x.addLocked(keyOf(id), l)
	x.mu.Unlock()
}

// addLocked lists key k at l unless it is listed, and merges the
// additions into the sorted slice when there are many. The caller holds
// mu.
func (x *Index) addLocked(k key, l Loc) {
	if _, ok := x.lookup(k); ok {
		return
	}
	x.added[k] = l
	if len(x.added) < max(mergeAt, len(x.sorted)/8) {
		return
	}
	add := make([]indexEntry, 0, len(x.added))
	for k, l := range x.added {
		add = append(add, indexEntry{k, l})
	}
	cmp := func(a, b indexEntry) int { return a.k.cmp(b.k) }
	slices.SortFunc(add, cmp)
	x.sorted = mergeSorted(x.sorted, add, cmp)
	clear(x.added)
}

// IndexOptions bound what LoadIndexWith keeps.
type IndexOptions struct {
	// Want, when not nil, keeps only the blobs it is true for: a restore
	// looking for its image's repacked blobs keeps those alone.
	Want func(chunk.ID) bool
	// Max bounds the blobs kept, 0 for no bound. Index files are read
	// newest first, and those past the bound are not read: Left counts
	// their blobs. A capture then stores such a blob again, which costs
	// space, not correctness.
	Max int
	// First, when the index files list more than Max blobs, returns images
	// whose blobs are listed before any index file's: a capture's parent,
	// whose blobs the new image mostly shares. Their places are kept when
	// their packs are stored.
	First func(context.Context) []*Image
}

// DefaultIndexMax bounds the index a capture or a backup holds: 2 Mi blobs
// in 56 MiB, the blobs of a 64 GB disk at 32 KiB.
const DefaultIndexMax = 2 << 20

// indexEntryBytes is an index file's bytes per blob (pack.AppendEntry).
const indexEntryBytes = 41

// indexBlobs returns about how many blobs index files list, by their size.
func indexBlobs(files ...store.Info) int64 {
	var n int64
	for _, fi := range files {
		n += fi.Size / indexEntryBytes
	}
	return n
}

// LoadIndex returns what the repository holds. In format 2 it reads the
// index files and keeps the entries of packs that are stored; in format 1
// it lists the chunk folders.
func (r *Repository) LoadIndex(ctx context.Context) (*Index, error) {
	return r.LoadIndexWith(ctx, IndexOptions{})
}

// LoadIndexWith is LoadIndex within the bounds opt sets.
func (r *Repository) LoadIndexWith(ctx context.Context, opt IndexOptions) (*Index, error) {
	x := newIndex()
	if !r.Packed() {
		err := r.ListChunks(ctx, func(c StoredChunk) error {
			if opt.Want == nil || opt.Want(c.ID) {
				x.addLocked(keyOf(c.ID), Loc{Pack: -1, Len: uint32(min(c.Size, 1<<32-1))})
			}
			return nil
		}, nil)
		return x, err
	}
	stored := x.stored
	err := r.ListPacks(ctx, func(name chunk.ID, _ int64) error {
		stored[name] = true
		return nil
	}, nil)
	if err != nil {
		return nil, err
	}
	files, err := r.indexFiles(ctx, nil)
	if err != nil {
		return nil, err
	}
	// Newest first: when the bound is reached, what is left out is what
	// was stored longest ago.
	sort.SliceStable(files, func(i, j int) bool { return files[i].ModTime.After(files[j].ModTime) })
	total := indexBlobs(files...)
	room := func() int { return opt.Max - len(x.sorted) }
	if opt.Max <= 0 {
		room = func() int { return 1<<31 - 1 }
	} else {
		x.sorted = make([]indexEntry, 0, min(int64(opt.Max), total))
	}
	if opt.Max > 0 && total > int64(opt.Max) && opt.First != nil {
		for _, img := range opt.First(ctx) {
			for i := range img.Disks {
				for _, a := range img.Disks[i].Areas() {
					for _, c := range a.Chunks {
						if c.Zero || c.Pack < 1 || int(c.Pack) > len(img.Packs) || room() <= 0 {
							continue
						}
						if pk := img.Packs[c.Pack-1]; stored[pk] && (opt.Want == nil || opt.Want(c.ID)) {
							x.sorted = append(x.sorted, indexEntry{keyOf(c.ID), Loc{Pack: x.packNumber(pk), Off: c.Off, Len: c.Len}})
						}
					}
				}
			}
		}
	}
	for k, fi := range files {
		if room() <= 0 {
			x.left += indexBlobs(files[k:]...)
			break
		}
		err := r.readIndexFile(ctx, fi, func(_, pk chunk.ID, blobs []pack.Blob) error {
			if !stored[pk] {
				return nil
			}
			p := int32(-1)
			for _, b := range blobs {
				if opt.Want != nil && !opt.Want(b.ID) {
					continue
				}
				if room() <= 0 {
					x.left++
					continue
				}
				if p < 0 {
					p = x.packNumber(pk)
				}
				x.sorted = append(x.sorted, indexEntry{keyOf(b.ID), Loc{Pack: p, Off: b.Offset, Len: b.Length}})
			}
			return nil
		}, nil)
		if err != nil {
			return nil, err
		}
	}
	// Sorted by key, the first listed of each key kept.
	slices.SortStableFunc(x.sorted, func(a, b indexEntry) int { return a.k.cmp(b.k) })
	x.sorted = slices.CompactFunc(x.sorted, func(a, b indexEntry) bool { return a.k == b.k })
	x.sorted = slices.Clip(x.sorted)
	return x, nil
}

// indexFiles lists the index files. A name that is not an index file's
// goes to bad, if it is not nil.
func (r *Repository) indexFiles(ctx context.Context, bad func(name string, err error)) ([]store.Info, error) {
	var files []store.Info
	err := r.s.List(ctx, indexDir, func(fi store.Info) error {
		if _, err := chunk.ParseID(fi.Name); err != nil {
			if bad != nil && !strings.HasPrefix(fi.Name, ".") {
				bad(indexDir+"/"+fi.Name, errors.New("not an index file"))
			}
			return nil
		}
		files = append(files, fi)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s in %s: %w", indexDir, r.s.Location(), err)
	}
	return files, nil
}

// readIndexFile calls fn for every pack index file fi lists, with the
// index file's name. An index file that cannot be used goes to bad, if it
// is not nil, and is otherwise skipped: indexes are hints.
func (r *Repository) readIndexFile(ctx context.Context, fi store.Info, fn func(file, pack chunk.ID, blobs []pack.Blob) error, bad func(name string, err error)) error {
	name := indexDir + "/" + fi.Name
	id, err := chunk.ParseID(fi.Name)
	if err != nil {
		return nil
	}
	if fi.Size > pack.MaxIndexSize {
		if bad != nil {
			bad(name, fmt.Errorf("%d bytes, larger than an index may be", fi.Size))
		}
		return nil
	}
	data, err := r.s.ReadFile(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed by a prune since the listing
	}
	if err != nil {
		return fmt.Errorf("reading %s in %s: %w", name, r.s.Location(), err)
	}
	err = pack.ParseIndex(data, id, func(pk chunk.ID, blobs []pack.Blob) error { return fn(id, pk, blobs) })
	if errors.Is(err, pack.ErrCorrupt) {
		if bad != nil {
			bad(name, err)
		}
		return nil
	}
	return err
}

// ParentImages returns, for IndexOptions.First, the newest image of
// machine that can be read: a capture's new image shares most of its
// blobs with it. A damaged one is passed over (up to three): this is a
// hint for storing less, never what a restore reads.
func (r *Repository) ParentImages(machine string) func(context.Context) []*Image {
	return func(ctx context.Context) []*Image {
		heads, err := r.Heads(ctx)
		if err != nil {
			return nil
		}
		tries := 0
		for i := len(heads) - 1; i >= 0 && tries < 3; i-- {
			h := &heads[i]
			if h.Err != nil || h.Machine != machine || h.Kind != KindImage {
				continue
			}
			tries++
			if s, err := r.loadSnapshot(ctx, h.ID, h.Size); err == nil && s.Image != nil {
				return []*Image{s.Image}
			}
		}
		return nil
	}
}
