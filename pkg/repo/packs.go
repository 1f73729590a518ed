// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/store"
)

// Format 2 keeps blobs in packs (package pack): packs/<2 hex>/<pack name>,
// with index files under index/ that list what the packs hold. A pack is
// saved before any index names it, an index before any snapshot relies on
// it; prune writes new packs and a new index before it removes old ones.
const (
	packsDir = "packs"
	indexDir = "index"
)

// DefaultPackSize is the size a format-2 writer fills a pack to before it
// saves it: large enough that a 60 GB image is a few thousand files, small
// enough that a capture keeps a few in memory.
const DefaultPackSize = 16 << 20

// indexEvery is how many packs a writer saves before it writes an index of
// them, so that an interrupted capture's packs are known to the next one.
const indexEvery = 32

func packName(id chunk.ID) string {
	s := id.String()
	return packsDir + "/" + s[:2] + "/" + s
}

// Packed reports whether the repository keeps blobs in packs (format 2).
func (r *Repository) Packed() bool { return r.cfg.Version >= 2 }

// ListPacks calls fn for each pack stored, with its size. Other files in
// the pack folders go to other, if it is not nil, with their name relative
// to the repository. fn and other are called one at a time, folder by
// folder in order.
func (r *Repository) ListPacks(ctx context.Context, fn func(name chunk.ID, size int64) error, other func(name string, fi store.Info) error) error {
	// Up to listsInFlight folders are listed ahead of the one whose files
	// fn and other are given, in order and one at a time: over SMB each
	// listing is a few round trips, and there are 256 folders.
	type listing struct {
		files []store.Info
		err   error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait() // after the cancel: listings ahead stop, not finish
	var done [256]chan listing
	start := func(i int) {
		done[i] = make(chan listing, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l listing
			l.err = r.s.List(ctx, fmt.Sprintf("%s/%02x", packsDir, i), func(fi store.Info) error {
				l.files = append(l.files, fi)
				return nil
			})
			done[i] <- l
		}()
	}
	next := 0
	for i := range 256 {
		for ; next < 256 && next <= i+listsInFlight; next++ {
			start(next)
		}
		dir := fmt.Sprintf("%s/%02x", packsDir, i)
		l := <-done[i]
		if l.err != nil {
			return fmt.Errorf("listing %s in %s: %w", dir, r.s.Location(), l.err)
		}
		for _, fi := range l.files {
			id, err := chunk.ParseID(fi.Name)
			if err != nil || !strings.HasPrefix(fi.Name, dir[len(packsDir)+1:]) {
				if other != nil {
					err = other(dir+"/"+fi.Name, fi)
				} else {
					err = nil
				}
			} else {
				err = fn(id, fi.Size)
			}
			if err != nil {
				return fmt.Errorf("listing %s in %s: %w", dir, r.s.Location(), err)
			}
		}
	}
	return nil
}

// listsInFlight is how many folders of packs ListPacks lists at once.
const listsInFlight = 8

// Saver stores blobs: in format 2 it fills packs and saves each when it
// is full, with an index file every few packs; in format 1 each blob is a
// chunk file. Its methods may be called concurrently; several packs may be
// on their way at once. Flush must be called before anything names what
// was saved.
type Saver struct {
	r   *Repository
	idx *Index

	mu sync.Mutex // guards w
	w  *pack.Writer

	imu sync.Mutex // guards iw, the packs saved but in no index file yet
	iw  pack.IndexWriter
	// written names every pack and index file saved, by store name.
	written map[string]bool
}

// NewSaver returns a Saver that adds what it stores to idx.
func (r *Repository) NewSaver(idx *Index) *Saver {
	return &Saver{r: r, idx: idx}
}

// Save stores blob enc, the chunk encoding of plaintext id. The blob is
// durable, and listed in the index, only once Flush returns.
func (s *Saver) Save(ctx context.Context, typ byte, id chunk.ID, enc []byte) error {
	return s.SaveBatch(ctx, typ, []chunk.ID{id}, [][]byte{enc})
}

// SaveBatch stores blobs encs (ids their plaintexts' ids) as Save does,
// next to each other in one pack and in this order, so that a reader of
// all of them reads one range.
func (s *Saver) SaveBatch(ctx context.Context, typ byte, ids []chunk.ID, encs [][]byte) error {
	if !s.r.Packed() {
		for k, id := range ids {
			if err := s.r.SaveChunk(ctx, id, encs[k]); err != nil {
				return err
			}
			s.idx.add(id, Loc{Pack: -1, Len: uint32(len(encs[k]))})
		}
		return nil
	}
	size := s.r.packSize()
	s.mu.Lock()
	if s.w == nil {
		s.w = pack.NewWriter(size + size/8)
	}
	for k, id := range ids {
		s.w.Add(typ, id, encs[k])
	}
	if s.w.Size() < size {
		s.mu.Unlock()
		return nil
	}
	blobs := append([]pack.Blob(nil), s.w.Blobs()...)
	data, name := s.w.Finish()
	s.mu.Unlock()
	return s.savePack(ctx, name, data, blobs)
}

// Flush saves the last pack and indexes every pack saved.
func (s *Saver) Flush(ctx context.Context) error {
	if !s.r.Packed() {
		return nil
	}
	s.mu.Lock()
	var blobs []pack.Blob
	var data []byte
	var name chunk.ID
	if s.w != nil && s.w.Len() > 0 {
		blobs = append(blobs, s.w.Blobs()...)
		data, name = s.w.Finish()
	}
	s.mu.Unlock()
	if data != nil {
		if err := s.savePack(ctx, name, data, blobs); err != nil {
			return err
		}
	}
	s.imu.Lock()
	defer s.imu.Unlock()
	return s.writeIndex(ctx)
}

func (s *Saver) savePack(ctx context.Context, name chunk.ID, data []byte, blobs []pack.Blob) error {
	if err := s.r.s.Save(ctx, packName(name), data); err != nil {
		return fmt.Errorf("storing pack %s in %s: %w", name.Short(), s.r.s.Location(), err)
	}
	s.idx.addPack(name, blobs)
	s.imu.Lock()
	defer s.imu.Unlock()
	s.wrote(packName(name))
	s.iw.Add(name, blobs)
	if s.iw.Packs() >= indexEvery {
		return s.writeIndex(ctx)
	}
	return nil
}

// writeIndex saves an index file of the packs saved since the last one.
// The caller holds imu.
func (s *Saver) writeIndex(ctx context.Context) error {
	if s.iw.Packs() == 0 {
		return nil
	}
	data, name := s.iw.Finish()
	if err := s.r.s.Save(ctx, indexDir+"/"+name.String(), data); err != nil {
		return fmt.Errorf("storing index %s in %s: %w", name.Short(), s.r.s.Location(), err)
	}
	s.wrote(indexDir + "/" + name.String())
	return nil
}

// wrote records a file saved. The caller holds imu.
func (s *Saver) wrote(name string) {
	if s.written == nil {
		s.written = make(map[string]bool)
	}
	s.written[name] = true
}

// Wrote reports whether the Saver saved the file name (a store name): a
// pack or index of the same content as one that existed is saved again
// under the same name, and must not then be removed as the old one.
func (s *Saver) Wrote(name string) bool {
	s.imu.Lock()
	defer s.imu.Unlock()
	return s.written[name]
}

func (r *Repository) packSize() int {
	if r.cfg.PackSize > 0 {
		return r.cfg.PackSize
	}
	return DefaultPackSize
}

// Locate fills in the locations of img's chunks from idx, which must list
// every chunk that is not zero: the manifest then tells a restore where
// each blob lies, and no restore needs an index. Format 1 images name
// chunk files and need no locations.
func (r *Repository) Locate(img *Image, idx *Index) error {
	if !r.Packed() {
		return nil
	}
	img.Packs = nil
	table := make(map[int32]int32) // idx's pack number → 1 + position in img.Packs
	for i := range img.Disks {
		for _, a := range img.Disks[i].Areas() {
			for k := range a.Chunks {
				c := &a.Chunks[k]
				c.Pack, c.Off, c.Len = 0, 0, 0
				if c.Zero {
					continue
				}
				l, ok := idx.Lookup(c.ID)
				if !ok {
					return fmt.Errorf("chunk %s was not stored (internal error): nothing was saved as a snapshot", c.ID)
				}
				p, ok := table[l.Pack]
				if !ok {
					img.Packs = append(img.Packs, idx.Pack(l.Pack))
					p = int32(len(img.Packs))
					table[l.Pack] = p
				}
				c.Pack, c.Off, c.Len = p, l.Off, l.Len
			}
		}
	}
	return nil
}

// LoadEncoded reads chunk ref of img as stored, without decoding it: from
// its chunk file (format 1), or from the pack the manifest names at the
// offset it names. When that pack is gone (a prune repacked it), the blob
// is looked up in the index files. DecodeChunk checks what it returns.
func (r *Repository) LoadEncoded(ctx context.Context, img *Image, ref ChunkRef) ([]byte, error) {
	if !r.Packed() {
		return r.LoadChunkEncoded(ctx, ref.ID)
	}
	if ref.Pack < 1 || int(ref.Pack) > len(img.Packs) {
		return nil, fmt.Errorf("chunk %s has no place in the image's packs", ref.ID)
	}
	enc, _, err := r.readMoved(ctx, img, ref.ID, img.Packs[ref.Pack-1], ref.Off, ref.Len)
	return enc, err
}

// readMoved reads blob id, as stored, at its place (n bytes at off of pack
// pk) or, when that pack is gone (a prune repacked it), where the index
// files say it lies now, and returns the pack it read. The index is read
// once per Repository and kept; when its answer is gone too (another prune
// ran since), it is read again, once.
func (r *Repository) readMoved(ctx context.Context, img *Image, id, pk chunk.ID, off, n uint32) ([]byte, chunk.ID, error) {
	enc, err := r.readBlob(ctx, pk, off, n)
	for try := 0; try < 2 && errors.Is(err, fs.ErrNotExist); try++ {
		l, pk2, ok, lerr := r.relocate(ctx, img, id, try == 1)
		if lerr != nil {
			return nil, pk, lerr
		}
		if !ok {
			return nil, pk, fmt.Errorf("chunk %s is missing from %s: pack %s is gone and no index lists it elsewhere: %w", id, r.s.Location(), pk.Short(), fs.ErrNotExist)
		}
		pk = pk2
		enc, err = r.readBlob(ctx, pk, l.Off, l.Len)
	}
	return enc, pk, err
}

// LoadRun reads the blobs of refs, which lie one after the other in one
// pack of img (format 2), in one request, and returns each one's bytes as
// stored. When the pack is gone, each is loaded on its own (LoadEncoded).
func (r *Repository) LoadRun(ctx context.Context, img *Image, refs []ChunkRef) ([][]byte, error) {
	first, last := refs[0], refs[len(refs)-1]
	valid := r.Packed() && first.Pack >= 1 && int(first.Pack) <= len(img.Packs)
	for k := 1; valid && k < len(refs); k++ {
		valid = refs[k].Pack == first.Pack && int64(refs[k].Off) == int64(refs[k-1].Off)+int64(refs[k-1].Len)
	}
	n := int64(last.Off) + int64(last.Len) - int64(first.Off)
	if !valid || n > MaxRunBytes {
		return nil, fmt.Errorf("chunks %s…: not one run of a pack (internal error)", first.ID.Short())
	}
	pk := img.Packs[first.Pack-1]
	buf, err := r.readRun(ctx, pk, int64(first.Off), n)
	if errors.Is(err, fs.ErrNotExist) {
		out := make([][]byte, len(refs))
		for i, ref := range refs {
			if out[i], err = r.LoadEncoded(ctx, img, ref); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(refs))
	for i, ref := range refs {
		off := int64(ref.Off) - int64(first.Off)
		out[i] = buf[off : off+int64(ref.Len) : off+int64(ref.Len)]
	}
	return out, nil
}

// readRun reads n bytes at off of pack pk, a run of adjacent blobs, in one
// request. A pack that is gone is an error that wraps fs.ErrNotExist: the
// caller then loads each blob where the index says it lies now.
func (r *Repository) readRun(ctx context.Context, pk chunk.ID, off, n int64) ([]byte, error) {
	buf := make([]byte, n)
	k, err := r.s.ReadAt(ctx, packName(pk), buf, off)
	switch {
	case k == len(buf):
		return buf, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading pack %s: %w", pk.Short(), err)
	case err == nil || errors.Is(err, io.EOF):
		return nil, fmt.Errorf("pack %s ends before the chunks at %d (%d bytes): %w", pk.Short(), off, n, chunk.ErrCorrupt)
	default:
		return nil, fmt.Errorf("reading pack %s: %w", pk.Short(), err)
	}
}

// MaxRunBytes bounds one LoadRun: large enough that an SMB read of it runs
// at the link's speed (reads of 64 KiB run at a third of it), small enough
// that several in flight stay cheap. It is a megabyte of plaintext and the
// chunks' headers (9 bytes each, and a chunk is never stored larger than
// that): a megabyte of incompressible chunks is one run, not two.
const MaxRunBytes = RunPlaintext + 4<<10

// RunPlaintext is the plaintext a run of MaxRunBytes carries at least.
const RunPlaintext = 1 << 20

// Adjacent reports whether chunk b follows chunk a in the same pack: a
// restore reads such runs with one LoadRun.
func Adjacent(a, b ChunkRef) bool {
	return a.Pack != 0 && b.Pack == a.Pack && int64(b.Off) == int64(a.Off)+int64(a.Len)
}

// readBlob reads n bytes at off of pack pk.
func (r *Repository) readBlob(ctx context.Context, pk chunk.ID, off, n uint32) ([]byte, error) {
	if int64(n) > int64(chunk.MaxEncodedLen(r.cfg.MaxChunkSize)) {
		return nil, fmt.Errorf("blob of %d bytes in pack %s is larger than any chunk may be: %w", n, pk.Short(), chunk.ErrCorrupt)
	}
	buf := make([]byte, n)
	k, err := r.s.ReadAt(ctx, packName(pk), buf, int64(off))
	if k == len(buf) {
		return buf, nil
	}
	if errors.Is(err, io.EOF) || err == nil {
		return nil, fmt.Errorf("pack %s ends before the blob at %d (%d bytes): %w", pk.Short(), off, n, chunk.ErrCorrupt)
	}
	return nil, fmt.Errorf("reading pack %s: %w", pk.Short(), err)
}

// relocate finds blob id through the index files, loading them once per
// Repository and image (only a read from a manifest whose packs were
// repacked needs it), or again with reload: a prune may have run since
// they were loaded. For a chunk of img, it keeps the entries of img's
// chunks alone, so that the memory it takes is the image's whatever the
// repository holds; for a tree's blob (img nil), every entry.
func (r *Repository) relocate(ctx context.Context, img *Image, id chunk.ID, reload bool) (Loc, chunk.ID, bool, error) {
	r.fallbackMu.Lock()
	defer r.fallbackMu.Unlock()
	if r.fallback == nil || reload || r.fallbackFor != img {
		var opt IndexOptions
		if img != nil {
			opt.Want = imageKeys(img).Has
		}
		x, err := r.LoadIndexWith(ctx, opt)
		if err != nil {
			return Loc{}, chunk.ID{}, false, fmt.Errorf("looking for a repacked chunk: %w", err)
		}
		r.fallback, r.fallbackFor = x, img
	}
	l, ok := r.fallback.Lookup(id)
	if !ok {
		return Loc{}, chunk.ID{}, false, nil
	}
	return l, r.fallback.Pack(l.Pack), true, nil
}

// LoadRef reads and checks chunk ref of img and returns its plaintext, in
// buf when it is large enough.
func (r *Repository) LoadRef(ctx context.Context, img *Image, ref ChunkRef, buf []byte) ([]byte, error) {
	enc, err := r.LoadEncoded(ctx, img, ref)
	if err != nil {
		return nil, err
	}
	return r.DecodeChunk(enc, ref.ID, buf)
}

// Place returns where chunk ref of img is stored as the manifest says: the
// file's name in the store, and the byte range in it. Tests and tools that
// damage or inspect a chunk use it; a format-1 chunk is its whole file.
func (r *Repository) Place(img *Image, ref ChunkRef) (name string, off, n int64) {
	if !r.Packed() || ref.Pack < 1 || int(ref.Pack) > len(img.Packs) {
		return chunkName(ref.ID), 0, -1
	}
	return packName(img.Packs[ref.Pack-1]), int64(ref.Off), int64(ref.Len)
}
