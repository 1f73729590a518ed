// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/pierrec/lz4/v4"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
)

// In format 2 an image's chunk lists are not in the snapshot's JSON: they
// are a compact binary stream, cut into blobs of listBlobSize and stored in
// packs like data, which the snapshot names in Image.Lists. A 60 GB disk
// at 64 KiB chunks is about 40 MB of lists instead of 120 MB of JSON, and
// the snapshot file stays small whatever the disk.
//
// The stream (see docs/FORMAT.md):
//
//	"RWL1"
//	for each area, disk by disk, boot areas then partitions in manifest order:
//	  uvarint  number of chunks
//	  for each chunk:
//	    uvarint  i − (previous i + 1)   (the first: i)
//	    byte     flags: 1 = zero
//	    if not zero: id (32 bytes), uvarint pack, uvarint offset, uvarint length
const (
	listMagic    = "RWL1"
	listBlobSize = 4 << 20
)

// MaxImageChunks bounds the chunks of one image, so that a restore holds
// its lists in memory (~56 bytes a chunk: 112 MiB) within the boot
// environment's. At 64 KiB chunks that is 128 GiB of used data; a capture
// cuts a larger image into larger chunks.
const MaxImageChunks = 2 << 20

// ListRef names one blob of an image's chunk lists and its place.
type ListRef struct {
	ID   chunk.ID `json:"id"`
	Pack int32    `json:"p"`
	Off  uint32   `json:"o"`
	Len  uint32   `json:"n"`
}

// listAreas returns img's areas in the lists' order.
func listAreas(img *Image) Areas {
	var as Areas
	for i := range img.Disks {
		as = append(as, img.Disks[i].BootAreas()...)
		as = append(as, img.Disks[i].PartitionAreas()...)
	}
	return as
}

// encodeLists calls emit with each listBlobSize piece of img's chunk
// lists, the last one shorter.
func encodeLists(img *Image, emit func([]byte) error) error {
	buf := make([]byte, 0, listBlobSize+64)
	buf = append(buf, listMagic...)
	flush := func(all bool) error {
		for len(buf) >= listBlobSize || all && len(buf) > 0 {
			n := min(len(buf), listBlobSize)
			if err := emit(buf[:n]); err != nil {
				return err
			}
			buf = append(buf[:0], buf[n:]...)
		}
		return nil
	}
	for _, a := range listAreas(img) {
		buf = binary.AppendUvarint(buf, uint64(len(a.Chunks)))
		prev := int64(-1)
		for _, c := range a.Chunks {
			buf = binary.AppendUvarint(buf, uint64(c.I-prev-1))
			prev = c.I
			if c.Zero {
				buf = append(buf, 1)
			} else {
				buf = append(buf, 0)
				buf = append(buf, c.ID[:]...)
				buf = binary.AppendUvarint(buf, uint64(c.Pack))
				buf = binary.AppendUvarint(buf, uint64(c.Off))
				buf = binary.AppendUvarint(buf, uint64(c.Len))
			}
			if err := flush(false); err != nil {
				return err
			}
		}
	}
	return flush(true)
}

// decodeLists reads img's chunk lists from r into its areas. Claims are
// checked before anything is allocated from them; the areas' own checks
// (Image.check) come after.
func decodeLists(img *Image, r io.ByteReader) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("chunk lists: "+format, args...)
	}
	var magic [len(listMagic)]byte
	for k := range magic {
		b, err := r.ReadByte()
		if err != nil {
			return bad("no header")
		}
		magic[k] = b
	}
	if string(magic[:]) != listMagic {
		return bad("bad header")
	}
	zeroIDs := make(map[int64]chunk.ID)
	var total int64
	for _, a := range listAreas(img) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return bad("cut short")
		}
		if total += int64(n); n > maxChunksPerArea || total > MaxImageChunks {
			return bad("%d chunks, more than an image may have (%d)", total, MaxImageChunks)
		}
		a.Chunks = make([]ChunkRef, 0, min(n, 1<<16))
		prev := int64(-1)
		for range n {
			d, err := binary.ReadUvarint(r)
			if err != nil || d >= maxChunksPerArea {
				return bad("chunk index cut short or out of range")
			}
			c := ChunkRef{I: prev + 1 + int64(d)}
			if c.I >= maxChunksPerArea {
				return bad("chunk index %d out of range", c.I)
			}
			prev = c.I
			flags, err := r.ReadByte()
			if err != nil || flags > 1 {
				return bad("chunk %d: flags cut short or unknown", c.I)
			}
			if flags == 1 {
				c.Zero = true
				n := a.Range(c.I, img.ChunkSize).Len
				if n < 0 {
					return bad("chunk %d lies beyond its area", c.I)
				}
				id, ok := zeroIDs[n]
				if !ok {
					id = chunk.Hash(make([]byte, n))
					zeroIDs[n] = id
				}
				c.ID = id
				if len(zeroIDs) > 4 {
					return bad("zero chunks of too many lengths")
				}
			} else {
				for k := range c.ID {
					if c.ID[k], err = r.ReadByte(); err != nil {
						return bad("chunk %d: id cut short", c.I)
					}
				}
				var v [3]uint64
				for k := range v {
					if v[k], err = binary.ReadUvarint(r); err != nil || v[k] > 1<<32-1 {
						return bad("chunk %d: place cut short or out of range", c.I)
					}
				}
				c.Pack, c.Off, c.Len = int32(min(v[0], 1<<31-1)), uint32(v[1]), uint32(v[2])
			}
			a.Chunks = append(a.Chunks, c)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return bad("bytes after the last area")
	}
	return nil
}

// saveLists stores img's chunk lists as blobs in a pack of their own and
// sets img.Lists, adding the packs they went to to img.Packs.
func (r *Repository) saveLists(ctx context.Context, img *Image) error {
	idx := newIndex()
	saver := r.NewSaver(idx)
	var lz lz4.Compressor
	var ids []chunk.ID
	err := encodeLists(img, func(p []byte) error {
		id := chunk.Hash(p)
		ids = append(ids, id)
		return saver.Save(ctx, pack.List, id, chunk.Encode(&lz, nil, p))
	})
	if err == nil {
		err = saver.Flush(ctx)
	}
	if err != nil {
		return fmt.Errorf("storing the image's chunk lists: %w", err)
	}
	img.Lists = img.Lists[:0]
	for _, id := range ids {
		l, _ := idx.Lookup(id)
		name := idx.Pack(l.Pack)
		p := int32(0)
		for k, pk := range img.Packs {
			if pk == name {
				p = int32(k + 1)
			}
		}
		if p == 0 {
			img.Packs = append(img.Packs, name)
			p = int32(len(img.Packs))
		}
		img.Lists = append(img.Lists, ListRef{ID: id, Pack: p, Off: l.Off, Len: l.Len})
	}
	return nil
}

// loadLists reads img's chunk lists into its areas. A list that is gone
// or damaged makes the snapshot damaged (never "gone": a walk over
// snapshots must not skip it).
func (r *Repository) loadLists(ctx context.Context, id ID, img *Image) error {
	lr := &listReader{ctx: ctx, r: r, img: img}
	err := decodeLists(img, bufio.NewReaderSize(lr, 64<<10))
	if lr.err != nil {
		err = lr.err
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, chunk.ErrCorrupt) || lr.err == nil:
		return damagedf("snapshot %s is damaged: %v", ShortID(id), err)
	default:
		return fmt.Errorf("reading the chunk lists of snapshot %s: %w", ShortID(id), err)
	}
}

// listReader reads the blobs of an image's chunk lists one after another.
type listReader struct {
	ctx context.Context
	r   *Repository
	img *Image
	k   int // next list blob
	cur []byte
	err error // the store's or a blob's error, which decodeLists cannot tell
}

func (lr *listReader) Read(p []byte) (int, error) {
	for len(lr.cur) == 0 {
		if lr.k >= len(lr.img.Lists) {
			return 0, io.EOF
		}
		l := lr.img.Lists[lr.k]
		lr.k++
		ref := ChunkRef{ID: l.ID, Pack: l.Pack, Off: l.Off, Len: l.Len}
		if err := ref.checkLoc(MaxChunkSize, len(lr.img.Packs)); err != nil {
			lr.err = fmt.Errorf("chunk list %s: %v: %w", l.ID.Short(), err, chunk.ErrCorrupt)
			return 0, lr.err
		}
		b, err := lr.r.LoadRef(lr.ctx, lr.img, ref, nil)
		if err != nil {
			lr.err = err
			return 0, err
		}
		lr.cur = b
	}
	n := copy(p, lr.cur)
	lr.cur = lr.cur[n:]
	return n, nil
}
