// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Command years makes a repository of years, for measuring what rewind
// holds in memory and how long it takes to find things in one: MACHINES
// machines with WEEKS weekly images each, of BLOBS 32 KiB chunks, CHANGE of
// them new every week. The images, their chunk lists and the index files
// are real; the data packs are sparse files of the right size whose bytes
// are never read (a prune keeps them: every blob is used). Only a capture
// or a restore of a real disk into it reads real data.
//
//	go run ./bench/years -dir out/years -machines 20 -weeks 52 -blobs 65536
//
// scripts/bench-years measures rewind's commands on it.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

const cs = 32 << 10

func main() {
	dir := flag.String("dir", "out/years", "the repository's folder (made anew)")
	machines := flag.Int("machines", 20, "machines")
	weeks := flag.Int("weeks", 52, "weekly images of each machine")
	blobs := flag.Int("blobs", 65536, "chunks of 32 KiB in each image")
	change := flag.Float64("change", 0.1, "share of an image's chunks new each week")
	flag.Parse()
	if err := run(*dir, *machines, *weeks, *blobs, *change); err != nil {
		fmt.Fprintln(os.Stderr, "years:", err)
		os.Exit(1)
	}
}

// packer writes fake data packs and index files listing them.
type packer struct {
	dir   string
	rng   *rand.Rand
	iw    pack.IndexWriter
	name  chunk.ID
	off   uint32
	blobs []pack.Blob
	packs int
}

// add places a new blob of a random stored size and returns its place:
// the pack's name, offset and length.
func (p *packer) add() (chunk.ID, chunk.ID, uint32, uint32) {
	if len(p.blobs) == 0 {
		p.name = p.randomID()
	}
	id := p.randomID()
	n := uint32(20000 + p.rng.IntN(12000))
	b := pack.Blob{Type: pack.Data, ID: id, Offset: p.off, Length: n}
	p.blobs = append(p.blobs, b)
	p.off += n
	name := p.name
	if len(p.blobs) == 512 {
		if err := p.flush(); err != nil {
			panic(err)
		}
	}
	return id, name, b.Offset, n
}

func (p *packer) randomID() (id chunk.ID) {
	for k := 0; k < len(id); k += 8 {
		binary.LittleEndian.PutUint64(id[k:], p.rng.Uint64())
	}
	return id
}

// flush writes the pack being filled as a sparse file, and an index file
// every 32 packs, as a capture does.
func (p *packer) flush() error {
	if len(p.blobs) > 0 {
		hex := p.name.String()
		name := filepath.Join(p.dir, "packs", hex[:2], hex)
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		if err := f.Truncate(int64(p.off)); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		p.iw.Add(p.name, p.blobs)
		p.blobs, p.off = nil, 0
		p.packs++
	}
	if p.iw.Packs() >= 32 {
		return p.writeIndex()
	}
	return nil
}

func (p *packer) writeIndex() error {
	if p.iw.Packs() == 0 {
		return nil
	}
	data, name := p.iw.Finish()
	return os.WriteFile(filepath.Join(p.dir, "index", name.String()), data, 0o644)
}

func run(dir string, machines, weeks, blobs int, change float64) error {
	ctx := context.Background()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s, err := local.Open(dir)
	if err != nil {
		return err
	}
	r, err := repo.Init(ctx, s, repo.InitOptions{ChunkSize: cs})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "index"), 0o755); err != nil {
		return err
	}
	p := &packer{dir: dir, rng: rand.New(rand.NewPCG(1, 52))}
	start := time.Now().AddDate(0, 0, -7*weeks)
	total := 0
	for m := range machines {
		refs := make([]repo.ChunkRef, blobs)
		where := make([]chunk.ID, blobs)
		for w := range weeks {
			for i := range refs {
				if w > 0 && p.rng.Float64() >= change {
					continue
				}
				id, pk, off, n := p.add()
				refs[i] = repo.ChunkRef{I: int64(i), ID: id, Off: off, Len: n}
				where[i] = pk
				total++
			}
			// The image's packs, numbered from 1 in the order first named.
			img := &repo.Image{ChunkSize: cs}
			num := make(map[chunk.ID]int32)
			a := repo.Area{Offset: 1 << 20, Length: int64(blobs) * cs, Used: []repo.Extent{{Off: 0, Len: int64(blobs) * cs}}, UsedBytes: int64(blobs) * cs}
			a.Chunks = make([]repo.ChunkRef, blobs)
			for i, c := range refs {
				k, ok := num[where[i]]
				if !ok {
					img.Packs = append(img.Packs, where[i])
					k = int32(len(img.Packs))
					num[where[i]] = k
				}
				c.Pack = k
				a.Chunks[i] = c
			}
			img.Disks = []repo.Disk{{Name: "sda", Size: a.Offset + a.Length + 1<<20, SectorSize: 512, Table: "gpt",
				Partitions: []repo.Partition{{Index: 1, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", Mode: "used-blocks", Area: a}}}}
			snap := &repo.Snapshot{Kind: repo.KindImage, Machine: fmt.Sprintf("m%02d", m), Host: "years", Time: start.AddDate(0, 0, 7*w), Image: img}
			// The packs the week's blobs went to are stored before the image
			// names them, as a capture stores them.
			if err := p.flush(); err != nil {
				return err
			}
			if _, err := r.SaveSnapshot(ctx, snap); err != nil {
				return fmt.Errorf("machine %d week %d: %w", m, w, err)
			}
		}
		fmt.Fprintf(os.Stderr, "machine %d of %d: %d blobs so far\n", m+1, machines, total)
	}
	if err := p.flush(); err != nil {
		return err
	}
	if err := p.writeIndex(); err != nil {
		return err
	}
	fmt.Printf("%d machines x %d images of %d chunks: %d blobs in %d data packs\n", machines, weeks, blobs, total, p.packs)
	return nil
}
