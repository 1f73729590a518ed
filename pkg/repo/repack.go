// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/store"
)

// repackBelow is the share of a pack's bytes that must still be used for
// prune to keep the pack as it is; below it, prune copies the used blobs
// into new packs and removes the old one.
const repackBelow = 0.5

// packFiles lists the stored packs with their sizes, and the temporary
// files in the pack folders, named relative to the repository.
func (r *Repository) packFiles(ctx context.Context) (map[chunk.ID]int64, []store.Info, error) {
	sizes := make(map[chunk.ID]int64)
	var temps []store.Info
	err := r.ListPacks(ctx, func(name chunk.ID, size int64) error {
		sizes[name] = size
		return nil
	}, func(name string, fi store.Info) error {
		if isTemp(fi.Name) {
			fi.Name = name
			temps = append(temps, fi)
		}
		return nil
	})
	return sizes, temps, err
}

// readTrailer reads the blob list of pack name, of size bytes, from the
// pack itself.
func (r *Repository) readTrailer(ctx context.Context, name chunk.ID, size int64) ([]pack.Blob, error) {
	bad := func(err error) error {
		return fmt.Errorf("pack %s in %s is in no index and its trailer cannot be read (%w); nothing was removed. Run 'rewind check --read-data'", name.Short(), r.s.Location(), err)
	}
	if size < pack.FooterSize || size > pack.MaxSize {
		return nil, bad(fmt.Errorf("%d bytes: %w", size, pack.ErrCorrupt))
	}
	var footer [pack.FooterSize]byte
	if err := r.readFullAt(ctx, packName(name), footer[:], size-pack.FooterSize); err != nil {
		return nil, bad(err)
	}
	n, err := pack.TrailerLen(footer[:], size)
	if err != nil {
		return nil, bad(err)
	}
	entries := make([]byte, n)
	if err := r.readFullAt(ctx, packName(name), entries, size-pack.FooterSize-int64(n)); err != nil {
		return nil, bad(err)
	}
	blobs, err := pack.ParseTrailer(entries, size)
	if err != nil {
		return nil, bad(err)
	}
	if blobs == nil {
		blobs = []pack.Blob{}
	}
	return blobs, nil
}

// readFullAt fills p from file name at off.
func (r *Repository) readFullAt(ctx context.Context, name string, p []byte, off int64) error {
	k, err := r.s.ReadAt(ctx, name, p, off)
	if k == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = fmt.Errorf("%s is shorter than it was listed: %w", name, io.ErrUnexpectedEOF)
	}
	return err
}

// liveSet is the blobs the snapshots use, as prune holds them: each one's
// key in a sorted slice, and a byte of flags. 17 bytes a blob, whatever
// the packs hold.
type liveSet struct {
	keys  []key
	dir   keyDir
	flags []uint8
}

// The flags of a used blob.
const (
	homed  uint8 = 1 << iota // listed by a pack already counted as holding it
	moved                    // in a kept pack, or to be copied
	inKept                   // in a kept pack
	copied                   // copied into a new pack
)

func newLiveSet(used *BlobSet) *liveSet {
	used.merge()
	return &liveSet{keys: used.sorted, dir: used.dir, flags: make([]uint8, len(used.sorted))}
}

// flag returns the flags of blob id, and where they are, or -1 when id is
// not used.
func (s *liveSet) flag(id chunk.ID) (uint8, int) {
	i, ok := searchKeys(s.keys, s.dir, keyOf(id))
	if !ok {
		return 0, -1
	}
	return s.flags[i], i
}

// prunePack is what prune decided for a pack.
type prunePack struct {
	size   int64
	action uint8 // keepPack, repackPack or dropPack; 0 while undecided
}

const (
	keepPack uint8 = iota + 1
	repackPack
	dropPack
)

// packLists calls fn once for each stored pack with its blobs: as the
// first of files that lists it does, or, for a pack in no index file, as
// its own trailer does (held in trailers). The index files are read
// again at each call rather than held: they are the size of the
// repository. Index files that cannot be used go to bad, when it is not
// nil.
func (r *Repository) packLists(ctx context.Context, files []store.Info, packs map[chunk.ID]*prunePack, trailers map[chunk.ID][]pack.Blob, bad func(string, error), fn func(name chunk.ID, p *prunePack, blobs []pack.Blob) error) error {
	done := make(map[chunk.ID]bool, len(packs))
	for _, fi := range files {
		err := r.readIndexFile(ctx, fi, func(_, pk chunk.ID, blobs []pack.Blob) error {
			p, ok := packs[pk]
			if !ok || done[pk] {
				return nil
			}
			done[pk] = true
			return fn(pk, p, blobs)
		}, bad)
		if err != nil {
			return err
		}
	}
	for name, p := range packs {
		if done[name] {
			continue
		}
		blobs, ok := trailers[name]
		if !ok {
			var err error
			if blobs, err = r.readTrailer(ctx, name, p.size); err != nil {
				return err
			}
			trailers[name] = blobs
		}
		if err := fn(name, p, blobs); err != nil {
			return err
		}
	}
	return nil
}

// prunePacks is Prune for format 2: packs nothing uses are removed, packs
// mostly unused are rewritten, and the index files are replaced by one
// that lists what is left. New packs and the new index are saved before
// anything is removed, so a kill at any point leaves every used blob
// listed in an index and stored in a pack. It holds the used blobs
// (liveSet) and a few bytes a pack, and reads the index files once per
// step rather than hold what they list.
func (r *Repository) prunePacks(ctx context.Context, opt PruneOptions, usedIDs *BlobSet, res *PruneResult) error {
	opt.Progress.Phase("packs", 0)
	used := newLiveSet(usedIDs)
	sizes, temps, err := r.packFiles(ctx)
	if err != nil {
		return err
	}
	packs := make(map[chunk.ID]*prunePack, len(sizes))
	for name, size := range sizes {
		packs[name] = &prunePack{size: size}
	}
	var damagedIndexes []string
	files, err := r.indexFiles(ctx, func(name string, err error) { damagedIndexes = append(damagedIndexes, name) })
	if err != nil {
		return err
	}
	now := opt.Locker.fill().Now()
	old, err := r.oldTemps(ctx, now, snapshotsDir, locksDir, indexDir)
	if err != nil {
		return err
	}
	for _, fi := range temps {
		if now.Sub(fi.ModTime) > tempMaxAge {
			old = append(old, fi.Name)
		}
	}

	// Which blobs to keep where: each used blob once, in the first pack
	// listing it that is kept.
	res.Packs = len(packs)
	trailers := make(map[chunk.ID][]pack.Blob)
	var keep, repack, drop []chunk.ID
	err = r.packLists(ctx, files, packs, trailers, func(name string, err error) {
		damagedIndexes = append(damagedIndexes, name)
	}, func(name chunk.ID, p *prunePack, blobs []pack.Blob) error {
		opt.Progress.Add(progress.Items, 1)
		var live int64
		for _, b := range blobs {
			if b.Type == pack.Data {
				res.Chunks++
			}
			if f, i := used.flag(b.ID); i >= 0 && f&homed == 0 {
				live += int64(b.Length)
			}
		}
		switch {
		case live == 0:
			p.action = dropPack
			drop = append(drop, name)
		case float64(live) < repackBelow*float64(p.size):
			p.action = repackPack
			repack = append(repack, name)
		default:
			p.action = keepPack
			keep = append(keep, name)
		}
		if live > 0 {
			for _, b := range blobs {
				if _, i := used.flag(b.ID); i >= 0 {
					used.flags[i] |= homed
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// What stays: the blobs of kept packs, and the used blobs of repacked
	// ones, each copied once. The counts are of the disks' data; chunk
	// lists are blobs too, and move the same way.
	count := func(b pack.Blob, n *int, bytes *int64) {
		if b.Type == pack.Data {
			*n++
			*bytes += int64(b.Length)
		}
	}
	for _, step := range []uint8{keepPack, repackPack} {
		err = r.packLists(ctx, files, packs, trailers, nil, func(name chunk.ID, p *prunePack, blobs []pack.Blob) error {
			if (step == keepPack) != (p.action == keepPack) {
				return nil
			}
			for _, b := range blobs {
				f, i := used.flag(b.ID)
				switch {
				case step == keepPack:
					count(b, &res.KeptChunks, &res.KeptBytes)
					if i >= 0 {
						used.flags[i] |= moved | inKept
					}
				case i >= 0 && f&moved == 0:
					used.flags[i] |= moved
					count(b, &res.KeptChunks, &res.KeptBytes)
				default:
					count(b, &res.Removed, &res.RemovedBytes)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	res.RemovedPacks = len(drop)
	res.Repacked = len(repack)
	res.Temps = len(old)
	if opt.DryRun {
		return nil
	}

	// New packs first, with an index of them.
	idx := newIndex()
	saver := r.NewSaver(idx)
	opt.Progress.Phase("repack", int64(len(repack)))
	for _, name := range repack {
		data, err := r.s.ReadFile(ctx, packName(name))
		if err != nil {
			return fmt.Errorf("reading pack %s to repack it: %w; nothing was removed", name.Short(), err)
		}
		blobs, err := pack.Parse(data, name)
		if err != nil {
			return fmt.Errorf("pack %s in %s is damaged (%w), so prune cannot copy what it holds; nothing was removed. Run 'rewind check --read-data'", name.Short(), r.s.Location(), err)
		}
		for _, b := range blobs {
			f, i := used.flag(b.ID)
			if i < 0 || f&(copied|inKept) != 0 {
				continue
			}
			enc := data[b.Offset:b.End()]
			if _, err := chunk.Decode(nil, enc, b.ID, r.cfg.MaxChunkSize); err != nil {
				return fmt.Errorf("pack %s in %s: %w; nothing was removed. Run 'rewind check --read-data'", name.Short(), r.s.Location(), err)
			}
			if err := saver.Save(ctx, b.Type, b.ID, enc); err != nil {
				return err
			}
			used.flags[i] |= copied
		}
		opt.Progress.Add(progress.Done, 1)
	}
	if err := saver.Flush(ctx); err != nil {
		return err
	}

	// One index of everything kept, then the old index files go.
	var iw pack.IndexWriter
	var newFiles []chunk.ID
	flush := func() error {
		if iw.Packs() == 0 {
			return nil
		}
		data, name := iw.Finish()
		if err := r.s.Save(ctx, indexDir+"/"+name.String(), data); err != nil {
			return fmt.Errorf("storing index %s in %s: %w", name.Short(), r.s.Location(), err)
		}
		newFiles = append(newFiles, name)
		return nil
	}
	err = r.packLists(ctx, files, packs, trailers, nil, func(name chunk.ID, p *prunePack, blobs []pack.Blob) error {
		if p.action != keepPack {
			return nil
		}
		iw.Add(name, blobs)
		if iw.Size() > pack.MaxIndexSize/2 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	fresh := make(map[chunk.ID]bool)
	for _, f := range newFiles {
		fresh[f] = true
	}
	// The saver's own index files list the new packs; keep them too.
	var gone []string
	for _, fi := range files {
		if f, _ := chunk.ParseID(fi.Name); !fresh[f] {
			gone = append(gone, indexDir+"/"+fi.Name)
		}
	}
	gone = append(gone, damagedIndexes...)
	// The saver's packs and index files are newer than the listing: not in
	// packs nor files.
	for _, name := range append(drop, repack...) {
		gone = append(gone, packName(name))
	}
	// Names are content hashes: a pack or index this prune wrote may have
	// the name of one it found (the same blobs copied again after an
	// interrupted prune). Those stay.
	stay := gone[:0]
	for _, name := range gone {
		if !saver.Wrote(name) {
			stay = append(stay, name)
		}
	}
	gone = stay
	opt.Progress.Phase("remove", int64(len(gone)+len(old)))
	if err := r.removeAll(ctx, gone, opt.Progress); err != nil {
		return err
	}
	return r.removeAll(ctx, old, opt.Progress)
}
