// Command capture measures a week of changes through rewind's own capture:
// it captures week 1 and then week 2 of a filesystem image into a new
// format-2 repository (the real path: pkg/blockmap's map, zeroed ranges
// included, pkg/capture's chunking and dedup) and reports what week 2
// stored anew.
//
//	capture -w1 A.img -w2 B.img -delta BYTES [-chunk 32768] [-keep-journal] [-name NAME]
//
// "new" is the plaintext of week 2's distinct non-zero chunks that week 1
// does not hold, as bench/granularity's measure counts it; "stored" is
// what the capture wrote (lz4 or raw, chunk headers included).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

const MiB = 1 << 20

func main() {
	w1 := flag.String("w1", "", "week-1 image")
	w2 := flag.String("w2", "", "week-2 image")
	delta := flag.Int64("delta", 0, "ideal delta: bytes of file content changed")
	cs := flag.Int("chunk", repo.DefaultPackedChunkSize, "chunk size of the repository")
	keep := flag.Bool("keep-journal", false, "image an ext3/4 journal's log as data (as rewind did before zeroed ranges)")
	name := flag.String("name", "", "label")
	flag.Parse()
	if *w1 == "" || *w2 == "" || *delta <= 0 {
		log.Fatal("usage: capture -w1 A.img -w2 B.img -delta BYTES")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gran-capture-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := local.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	r, err := repo.Init(ctx, st, repo.InitOptions{ChunkSize: *cs})
	if err != nil {
		log.Fatal(err)
	}
	opt := capture.Options{Machine: "bench"}
	if *keep {
		opt.Map = func(ctx context.Context, rd io.ReaderAt, size int64) (*blockmap.Map, error) {
			m, err := blockmap.Read(ctx, rd, size, blockmap.Options{})
			if m != nil {
				m.Zeroed, m.ZeroedBytes = nil, 0
			}
			return m, err
		}
	}
	snap := func(path string) *capture.Result {
		src, err := disk.Open(path)
		if err != nil {
			log.Fatal(err)
		}
		defer src.Close()
		res, err := capture.Capture(ctx, r, []capture.Source{src}, opt)
		if err != nil {
			log.Fatalf("capture %s: %v", path, err)
		}
		return res
	}
	first, second := snap(*w1), snap(*w2)
	held := map[chunk.ID]bool{}
	each := func(img *repo.Image, fn func(c repo.ChunkRef, n int64)) {
		for _, d := range img.Disks {
			for _, a := range d.Areas() {
				for _, c := range a.Chunks {
					if !c.Zero {
						fn(c, a.Range(c.I, img.ChunkSize).Len)
					}
				}
			}
		}
	}
	each(first.Snapshot.Image, func(c repo.ChunkRef, _ int64) { held[c.ID] = true })
	var newBytes, newChunks int64
	each(second.Snapshot.Image, func(c repo.ChunkRef, n int64) {
		if !held[c.ID] {
			held[c.ID] = true
			newBytes += n
			newChunks++
		}
	})
	img1 := first.Snapshot.Image
	used, zeroed := img1.UsedBytes(), img1.ZeroedBytes()
	fmt.Printf("## %s\n\n", *name)
	fmt.Printf("rewind capture, %d KiB chunks, keep-journal=%v: week 1 used %.1f MiB (zeroed %.1f MiB, read %.1f MiB), stored %.1f MiB\n",
		*cs>>10, *keep, float64(used)/MiB, float64(zeroed)/MiB, float64(first.Stats.ReadBytes)/MiB, float64(first.Stats.NewBytes)/MiB)
	fmt.Printf("ideal delta %.1f MiB\n\n", float64(*delta)/MiB)
	fmt.Printf("| capture | new MiB | ÷ ideal | %% of w1 used | stored MiB (lz4) | new chunks |\n|---|---|---|---|---|---|\n")
	fmt.Printf("| %s | %.1f | %.2f | %.1f%% | %.1f | %d |\n", *name, float64(newBytes)/MiB, float64(newBytes)/float64(*delta),
		100*float64(newBytes)/float64(used), float64(second.Stats.NewBytes)/MiB, newChunks)
}
