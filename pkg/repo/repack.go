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

// storedPack is a pack as prune and check see it: its size, and its blobs
// as the index files list them (nil for a pack in no index).
type storedPack struct {
	size  int64
	blobs []pack.Blob
}

// packInventory lists the packs, the index files and the blobs they list.
// Index files that cannot be used go to bad.
// A pack in no index is read for its own trailer; one whose trailer cannot
// be read goes to badPack if it is not nil, and is otherwise an error.
func (r *Repository) packInventory(ctx context.Context, bad func(name string, err error), badPack func(name chunk.ID, err error)) (map[chunk.ID]*storedPack, []chunk.ID, []store.Info, error) {
	packs := make(map[chunk.ID]*storedPack)
	var temps []store.Info
	err := r.ListPacks(ctx, func(name chunk.ID, size int64) error {
		packs[name] = &storedPack{size: size}
		return nil
	}, func(name string, fi store.Info) error {
		if isTemp(fi.Name) {
			fi.Name = name
			temps = append(temps, fi)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	var files []chunk.ID
	seen := make(map[chunk.ID]bool)
	err = r.eachIndex(ctx, func(file, pk chunk.ID, blobs []pack.Blob) error {
		if !seen[file] {
			seen[file] = true
			files = append(files, file)
		}
		if p, ok := packs[pk]; ok && p.blobs == nil {
			p.blobs = blobs
		}
		return nil
	}, bad)
	if err != nil {
		return nil, nil, nil, err
	}
	for name, p := range packs {
		if p.blobs != nil {
			continue
		}
		if p.blobs, err = r.readTrailer(ctx, name, p.size); err != nil {
			if badPack == nil {
				return nil, nil, nil, err
			}
			badPack(name, err)
			p.blobs = []pack.Blob{}
		}
	}
	return packs, files, temps, nil
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

// prunePacks is Prune for format 2: packs nothing uses are removed, packs
// mostly unused are rewritten, and the index files are replaced by one
// that lists what is left. New packs and the new index are saved before
// anything is removed, so a kill at any point leaves every used blob
// listed in an index and stored in a pack.
func (r *Repository) prunePacks(ctx context.Context, opt PruneOptions, used map[chunk.ID]struct{}, res *PruneResult) error {
	opt.Progress.Phase("packs", 0)
	var damagedIndexes []string
	packs, files, temps, err := r.packInventory(ctx, func(name string, err error) {
		damagedIndexes = append(damagedIndexes, name)
	}, nil)
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
	kept := make(map[chunk.ID]bool)
	var keep, repack, drop []chunk.ID
	for name, p := range packs {
		var live int64
		for _, b := range p.blobs {
			if b.Type == pack.Data {
				res.Chunks++
			}
			if _, ok := used[b.ID]; ok && !kept[b.ID] {
				live += int64(b.Length)
			}
		}
		switch {
		case live == 0:
			drop = append(drop, name)
		case float64(live) < repackBelow*float64(p.size):
			repack = append(repack, name)
		default:
			keep = append(keep, name)
		}
		if live > 0 {
			for _, b := range p.blobs {
				if _, ok := used[b.ID]; ok {
					kept[b.ID] = true
				}
			}
		}
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
	moved := make(map[chunk.ID]bool)      // in a kept pack, or to be copied
	inKeptPack := make(map[chunk.ID]bool) // in a kept pack
	for _, name := range keep {
		for _, b := range packs[name].blobs {
			count(b, &res.KeptChunks, &res.KeptBytes)
			moved[b.ID] = true
			inKeptPack[b.ID] = true
		}
	}
	for _, name := range append(append([]chunk.ID(nil), repack...), drop...) {
		for _, b := range packs[name].blobs {
			if _, isUsed := used[b.ID]; isUsed && !moved[b.ID] {
				moved[b.ID] = true
				count(b, &res.KeptChunks, &res.KeptBytes)
				continue
			}
			count(b, &res.Removed, &res.RemovedBytes)
		}
	}
	copied := make(map[chunk.ID]bool)
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
			if _, ok := used[b.ID]; !ok || copied[b.ID] || inKeptPack[b.ID] {
				continue
			}
			enc := data[b.Offset:b.End()]
			if _, err := chunk.Decode(nil, enc, b.ID, r.cfg.MaxChunkSize); err != nil {
				return fmt.Errorf("pack %s in %s: %w; nothing was removed. Run 'rewind check --read-data'", name.Short(), r.s.Location(), err)
			}
			if err := saver.Save(ctx, b.Type, b.ID, enc); err != nil {
				return err
			}
			copied[b.ID] = true
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
	for _, name := range keep {
		iw.Add(name, packs[name].blobs)
		if iw.Size() > pack.MaxIndexSize/2 {
			if err := flush(); err != nil {
				return err
			}
		}
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
	for _, f := range files {
		if !fresh[f] {
			gone = append(gone, indexDir+"/"+f.String())
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
