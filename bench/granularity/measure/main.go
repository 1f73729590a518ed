// Command measure compares two captures (week 1, week 2) of a filesystem image
// under several blob granularities and reports how many bytes week 2 stores
// anew. Images are masked with rewind's own used-block map (pkg/blockmap).
//
//	measure -w1 A.img -w2 B.img -delta BYTES [-regions FILE] [-name NAME] [-keep-journal]
//
// The images are masked as a capture reads them: used extents, with the
// ranges the map records as zeros (a clean ext3/4 journal's log) cleared;
// -keep-journal images the journal's log as data, as rewind did before.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc"
	"github.com/pierrec/lz4/v4"
	"github.com/restic/chunker"
	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/chunk"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

type image struct {
	name string
	m    *blockmap.Map
	data []byte // whole image, bytes outside used extents zeroed
}

// keepJournal images an ext3/4 journal's log as data, as rewind did
// before its used-block map reported it as zeroed (-keep-journal).
var keepJournal bool

func load(path string) *image {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	m, err := blockmap.Read(context.Background(), f, st.Size(), blockmap.Options{})
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	data := make([]byte, st.Size())
	// Read only the used extents; the rest stays zero (the mask).
	for _, e := range m.Extents {
		if _, err := f.ReadAt(data[e.Off:e.End()], e.Off); err != nil && err != io.EOF {
			log.Fatal(err)
		}
	}
	// What a capture records as zeros (a clean ext3/4 journal's log).
	if !keepJournal {
		for _, z := range m.Zeroed {
			clear(data[z.Off:z.End()])
		}
	}
	return &image{name: path, m: m, data: data}
}

type blob struct {
	off, n int64
}

// A cutter splits an image into blobs (offset, length), zero blobs included.
type cutter struct {
	name string
	cut  func(im *image, emit func(off, n int64))
}

func fixed(size int64) cutter {
	return cutter{fmt.Sprintf("fixed %d KiB", size/KiB), func(im *image, emit func(off, n int64)) {
		total := int64(len(im.data))
		// Only blobs that meet a used extent can be non-zero.
		next := int64(0)
		for _, e := range im.m.Extents {
			start := e.Off / size * size
			if start < next {
				start = next
			}
			for o := start; o < e.End(); o += size {
				emit(o, min(size, total-o))
				next = o + size
			}
		}
	}}
}

var pol = chunker.Pol(0x3DA3358B4DC173) // restic/chunker's test and example polynomial

func restic(minS, maxS uint, bits int) cutter {
	return cutter{fmt.Sprintf("restic Rabin %dK/2^%d/%dK", minS/KiB, bits, maxS/KiB), func(im *image, emit func(off, n int64)) {
		buf := make([]byte, maxS)
		var c *chunker.Chunker
		for _, e := range im.m.Extents {
			rd := io.NewSectionReader(readerAt(im.data), e.Off, e.Len)
			if c == nil {
				c = chunker.New(rd, pol, chunker.WithBoundaries(minS, maxS), chunker.WithAverageBits(bits))
			} else {
				c.Reset(rd, pol, chunker.WithBoundaries(minS, maxS), chunker.WithAverageBits(bits))
			}
			for {
				ch, err := c.Next(buf)
				if err == io.EOF {
					break
				}
				if err != nil {
					log.Fatal(err)
				}
				emit(e.Off+int64(ch.Start), int64(ch.Length))
			}
		}
	}}
}

func fastcdc(minS, avg, maxS int, stream bool) cutter {
	name := fmt.Sprintf("FastCDC %dK/%dK/%dK", minS/KiB, avg/KiB, maxS/KiB)
	if stream {
		name += " masked stream"
	}
	return cutter{name, func(im *image, emit func(off, n int64)) {
		var c *chunkers.Chunker
		runs := im.m.Extents
		if stream { // one run: the whole masked partition, free space as zeros
			runs = []blockmap.Extent{{Off: 0, Len: int64(len(im.data))}}
		}
		for _, e := range runs {
			rd := io.NewSectionReader(readerAt(im.data), e.Off, e.Len)
			if c == nil {
				var err error
				c, err = chunkers.NewChunker("fastcdc-v1.0.0", rd, &chunkers.ChunkerOpts{MinSize: minS, NormalSize: avg, MaxSize: maxS})
				if err != nil {
					log.Fatal(err)
				}
			} else {
				c.Reset(rd)
			}
			off := e.Off
			for {
				ch, err := c.Next()
				if len(ch) > 0 {
					emit(off, int64(len(ch)))
					off += int64(len(ch))
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					log.Fatal(err)
				}
			}
			if off != e.End() {
				log.Fatalf("fastcdc: covered %d..%d of extent %v", e.Off, off, e)
			}
		}
	}}
}

type readerAt []byte

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r)) {
		return 0, io.EOF
	}
	n := copy(p, r[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

type set struct {
	ids   map[[32]byte]int64 // -> first offset
	refs  int64              // non-zero blob references (manifest entries)
	bytes int64              // bytes of non-zero references
	zero  int64              // zero blobs skipped
	all   []blob             // every non-zero blob in order
}

func cutSet(im *image, c cutter) *set {
	s := &set{ids: map[[32]byte]int64{}}
	c.cut(im, func(off, n int64) {
		p := im.data[off : off+n]
		if isZero(p) {
			s.zero++
			return
		}
		s.refs++
		s.bytes += n
		s.all = append(s.all, blob{off, n})
		id := sha256.Sum256(p)
		if _, ok := s.ids[id]; !ok {
			s.ids[id] = off
		}
	})
	return s
}

type region struct {
	name     string
	off, len int64
}

func loadRegions(path string) []region {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	var rs []region
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		o, _ := strconv.ParseInt(fs[1], 0, 64)
		l, _ := strconv.ParseInt(fs[2], 0, 64)
		rs = append(rs, region{fs[0], o, l})
	}
	return rs
}

func regionOf(rs []region, off int64) string {
	for _, r := range rs {
		if off >= r.off && off < r.off+r.len {
			return r.name
		}
	}
	return "other (file data, dirs)"
}

func main() {
	w1p := flag.String("w1", "", "week-1 image")
	w2p := flag.String("w2", "", "week-2 image")
	delta := flag.Int64("delta", 0, "ideal delta: bytes of file content changed")
	regions := flag.String("regions", "", "file of 'name offset length' metadata regions (bytes) of week 2")
	name := flag.String("name", "", "label")
	mask := flag.String("mask", "", "zero the regions of this name (but their first 4 KiB) in both images, e.g. journal")
	flag.BoolVar(&keepJournal, "keep-journal", false, "image an ext3/4 journal's log as data, as rewind did before it recorded it as zeros")
	flag.Parse()
	w1, w2 := load(*w1p), load(*w2p)
	if *mask != "" {
		first := true
		var n int64
		for _, r := range loadRegions(*regions) {
			if r.name != *mask {
				continue
			}
			o := r.off
			if first {
				o += 4096 // keep the journal superblock
				first = false
			}
			for _, im := range []*image{w1, w2} {
				clear(im.data[o : r.off+r.len])
			}
			n += r.off + r.len - o
		}
		fmt.Printf("masked %q: %.1f MiB zeroed in both weeks\n", *mask, float64(n)/MiB)
	}
	used1, used2 := w1.m.Used, w2.m.Used
	fmt.Printf("## %s\n\n", *name)
	fmt.Printf("blockmap: fs=%s block=%d week1 used=%d (%.1f MiB, %d extents) week2 used=%d (%d extents), clean=%v/%v\n",
		w1.m.FS, w1.m.BlockSize, used1, float64(used1)/MiB, len(w1.m.Extents), used2, len(w2.m.Extents), w1.m.Clean, w2.m.Clean)
	fmt.Printf("ideal delta (file bytes rewritten) = %d (%.1f MiB, %.2f%% of week-1 used)\n\n", *delta, float64(*delta)/MiB, 100*float64(*delta)/float64(used1))

	// Changed 4 KiB blocks between the masked images, attributed to regions.
	rs := loadRegions(*regions)
	bs := int64(4096)
	chg := map[string]int64{}
	var chgTotal int64
	for o := int64(0); o < int64(len(w1.data)); o += bs {
		a, b := w1.data[o:o+bs], w2.data[o:o+bs]
		if string(a) != string(b) && !isZero(b) {
			chg[regionOf(rs, o)] += bs
			chgTotal += bs
		}
	}
	fmt.Printf("4 KiB blocks differing (week 2 non-zero): %.1f MiB = %.2fx ideal\n", float64(chgTotal)/MiB, float64(chgTotal)/float64(*delta))
	printRegions(chg)

	cutters := []cutter{
		fixed(16 * KiB), fixed(32 * KiB), fixed(64 * KiB), fixed(128 * KiB), fixed(1 * MiB),
		restic(16*KiB, 256*KiB, 16),
		fastcdc(16*KiB, 64*KiB, 256*KiB, false),
		fastcdc(16*KiB, 64*KiB, 256*KiB, true),
		fastcdc(8*KiB, 32*KiB, 128*KiB, false),
		fastcdc(4*KiB, 16*KiB, 64*KiB, false),
	}
	var lz lz4.Compressor
	fmt.Printf("\n| candidate | new MiB | new lz4 MiB | ÷ ideal | lz4 ÷ ideal | %% of used | blobs/GiB used (w1) | distinct w1 | mean blob KiB |\n|---|---|---|---|---|---|---|---|---|\n")
	var attrib []string
	for _, c := range cutters {
		s1 := cutSet(w1, c)
		s2 := cutSet(w2, c)
		seen := map[[32]byte]bool{}
		var newN, newB, newZ, newFreed, newMoved int64
		newReg := map[string]int64{}
		var enc []byte
		for _, b := range s2.all {
			p := w2.data[b.off : b.off+b.n]
			id := sha256.Sum256(p)
			if _, ok := s1.ids[id]; ok || seen[id] {
				continue
			}
			seen[id] = true
			newN++
			newB += b.n
			enc = chunk.Encode(&lz, enc[:0], p)
			newZ += int64(len(enc) - 9)
			newReg[regionOf(rs, b.off)] += b.n
			// Why is it new? Compare with week 1 at the same offset, 4 KiB at a time.
			written, freed := false, false
			for o := b.off; o < b.off+b.n; o += bs {
				e := min(o+bs, b.off+b.n)
				x, y := w1.data[o:e], w2.data[o:e]
				if string(x) == string(y) {
					continue
				}
				if isZero(y) {
					freed = true
				} else {
					written = true
				}
			}
			switch {
			case written:
			case freed:
				newFreed += b.n
			default:
				newMoved += b.n
			}
		}
		perGiB := float64(s1.refs) / (float64(used1) / GiB)
		fmt.Printf("| %s | %.1f | %.1f | %.2f | %.2f | %.1f%% | %.0f | %d | %.1f |\n", c.name,
			float64(newB)/MiB, float64(newZ)/MiB, float64(newB)/float64(*delta), float64(newZ)/float64(*delta),
			100*float64(newB)/float64(used1), perGiB, len(s1.ids), float64(s1.bytes)/float64(s1.refs)/KiB)
		var parts []string
		for _, k := range sortedKeys(newReg) {
			parts = append(parts, fmt.Sprintf("%s %.1f", k, float64(newReg[k])/MiB))
		}
		attrib = append(attrib, fmt.Sprintf("- %s: %d new blobs; %.1f MiB new only because clusters were freed (masked to zero), %.1f MiB with no change at that offset (CDC boundary shift); MiB by region of blob start: %s",
			c.name, newN, float64(newFreed)/MiB, float64(newMoved)/MiB, strings.Join(parts, ", ")))
	}
	fmt.Println()
	for _, a := range attrib {
		fmt.Println(a)
	}
}

func sortedKeys(m map[string]int64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] })
	return ks
}

func printRegions(m map[string]int64) {
	for _, k := range sortedKeys(m) {
		fmt.Printf("  %-28s %8.2f MiB\n", k, float64(m[k])/MiB)
	}
}
