// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/store/local"
	"github.com/rewind-backup/rewind/pkg/store/smb"
)

// BenchmarkSMBChunkRead reads every chunk of a repository on a loopback
// Samba with 1, 4 and 8 reads in flight over 2 connections, and smbclient
// `get` of one file holding the same bytes, in the same run. It reports
// MB/s and the ratio to smbclient. `make bench` runs it.
func BenchmarkSMBChunkRead(b *testing.B) {
	smbclient := testutil.NeedTool(b, "smbclient")[0]
	srv := sambatest.Start(b, sambatest.Options{})
	ctx := context.Background()
	total := int64(256 << 20)
	if s := os.Getenv("REWIND_BENCH_MB"); s != "" {
		var mb int64
		fmt.Sscan(s, &mb)
		total = mb << 20
	}

	// Fill the repository through the local folder the share exports:
	// writing is not what is measured here.
	repoDir := filepath.Join(srv.ShareDir, "repo")
	os.MkdirAll(repoDir, 0o755)
	ls, _ := local.Open(repoDir)
	r, err := Init(ctx, ls, InitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	big, err := os.Create(filepath.Join(srv.ShareDir, "big"))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var c lz4.Compressor
	var ids []chunk.ID
	var stored int64
	p := make([]byte, DefaultChunkSize)
	for n := int64(0); n < total; n += int64(len(p)) {
		// Half random, half text: compresses to about 60%.
		for i := 0; i < len(p)/2; i++ {
			p[i] = byte(rng.Uint32())
		}
		for i := len(p) / 2; i < len(p); i++ {
			p[i] = "rewind restores disks "[i%22]
		}
		id := chunk.Hash(p)
		enc := chunk.Encode(&c, nil, p)
		if err := r.SaveChunk(ctx, id, enc); err != nil {
			b.Fatal(err)
		}
		big.Write(enc)
		ids = append(ids, id)
		stored += int64(len(enc))
	}
	big.Close()

	cfg, _ := smb.ParseURL(srv.URL() + "/repo")
	cfg.Password = srv.Password()
	auth := filepath.Join(b.TempDir(), "auth")
	os.WriteFile(auth, []byte(fmt.Sprintf("username = %s\npassword = %s\n", srv.User, srv.Password())), 0o600)

	smbclientRate := func() float64 {
		start := time.Now()
		out, err := exec.Command(smbclient, "//127.0.0.1/"+srv.Share, "-p", fmt.Sprint(srv.Port), "-A", auth, "-c", "get big /dev/null").CombinedOutput()
		if err != nil {
			b.Fatalf("smbclient: %v %s", err, out)
		}
		return float64(stored) / time.Since(start).Seconds() / 1e6
	}
	readAll := func(workers int) float64 {
		s, err := smb.Open(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		rr, err := Open(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		next := make(chan chunk.ID)
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error {
			defer close(next)
			for _, id := range ids {
				select {
				case next <- id:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
		for range workers {
			g.Go(func() error {
				for id := range next {
					if _, err := rr.LoadChunkEncoded(gctx, id); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		return float64(stored) / time.Since(start).Seconds() / 1e6
	}

	for _, workers := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("inflight=%d", workers), func(b *testing.B) {
			var ours, theirs float64
			for i := 0; i < b.N; i++ {
				// Alternate, so both see the same state of the machine.
				theirs += smbclientRate()
				ours += readAll(workers)
			}
			b.ReportMetric(ours/float64(b.N), "MB/s")
			b.ReportMetric(theirs/float64(b.N), "smbclient-MB/s")
			b.ReportMetric(ours/theirs, "x-smbclient")
		})
	}
}

// BenchmarkLists60GB saves and loads the snapshot of a synthetic 60 GB
// image at 32 KiB chunks (1.8 million chunks placed in 3,600 packs) in a
// local repository, and reports the snapshot's and the lists' sizes, the
// load time and the heap a load takes. Run it alone:
//
//	go test -run '^$' -bench Lists60GB -benchtime 1x ./pkg/repo
func BenchmarkLists60GB(b *testing.B) {
	ctx := context.Background()
	const cs, used = 32 << 10, 60e9
	r, _ := newRepoV(b, 2)
	n := int64(used) / cs
	area := Area{Offset: 1 << 20, Length: n * cs, Used: []Extent{{0, n * cs}}, UsedBytes: n * cs}
	img := &Image{ChunkSize: cs, Disks: []Disk{{Name: "sda", Size: area.Offset + area.Length + 1<<20, SectorSize: 512, Table: "gpt",
		Partitions: []Partition{{Index: 1, Type: "EBD0A0A2-B9E5-4433-87C0-68B6B7C7E4C7", Mode: "used-blocks", Area: area}}}}}
	const packs = 3600
	for k := range packs {
		var id ID
		binary.LittleEndian.PutUint64(id[:], uint64(k))
		img.Packs = append(img.Packs, id)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p := &img.Disks[0].Partitions[0].Area
	p.Chunks = make([]ChunkRef, n)
	perPack := n/packs + 1
	for i := range p.Chunks {
		c := &p.Chunks[i]
		c.I = int64(i)
		for k := 0; k < len(c.ID); k += 8 {
			binary.LittleEndian.PutUint64(c.ID[k:], rng.Uint64())
		}
		c.Pack = int32(int64(i)/perPack + 1)
		c.Len = 20000 + uint32(rng.IntN(12000))
		c.Off = uint32(int64(i)%perPack) * 32777
	}
	s := &Snapshot{Kind: KindImage, Machine: "big", Time: time.Now(), Image: img}
	start := time.Now()
	if _, err := r.SaveSnapshot(ctx, s); err != nil {
		b.Fatal(err)
	}
	saveDur := time.Since(start)
	fi, err := r.Store().Stat(ctx, snapshotsDir+"/"+s.ID().String())
	if err != nil {
		b.Fatal(err)
	}
	var lists int64
	for _, l := range img.Lists {
		lists += int64(l.Len)
	}
	img, s = nil, nil
	p = nil
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var loaded *Snapshot
	for range b.N {
		heads, err := r.Heads(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if loaded, err = r.LoadSnapshot(ctx, heads[0].ID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if got := int64(len(loaded.Image.Disks[0].Partitions[0].Chunks)); got != n {
		b.Fatalf("loaded %d chunks, want %d", got, n)
	}
	runtime.GC()
	var live runtime.MemStats
	runtime.ReadMemStats(&live)
	b.ReportMetric(float64(n), "chunks")
	b.ReportMetric(float64(fi.Size)/1e3, "snapshotKB")
	b.ReportMetric(float64(lists)/1e6, "listsMB")
	b.ReportMetric(saveDur.Seconds(), "saveSeconds")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "loadAllocMiB")
	b.ReportMetric(float64(live.HeapAlloc)/(1<<20), "loadedHeapMiB")
	runtime.KeepAlive(loaded)
}
