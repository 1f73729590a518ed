// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// A fuzz input is a sparse partition image: records of a 4-byte byte offset
// and a 2-byte length n, then n bytes of content or, when n's top bit is
// set, one byte repeated n&0x7fff times (bitmaps are long runs of 0xff).
// Later records overwrite earlier ones; every other byte reads as zero. This keeps inputs (and the
// checked-in seeds, cut from real mkfs output) small while the metadata
// they describe can be anywhere.
const fuzzSector = 512

// fuzzMaxSize bounds the partition size a fuzz input may claim.
const fuzzMaxSize = 64 << 20

// fillRun marks a record of one repeated byte.
const fillRun = 0x8000

type sparseImage struct {
	sectors map[int64][]byte
	size    int64
}

func decodeSparse(data []byte, size int64) *sparseImage {
	if size < 0 {
		size = -size
	}
	size %= fuzzMaxSize + 1
	s := &sparseImage{sectors: map[int64][]byte{}, size: size}
	for len(data) >= 6 {
		off := int64(binary.LittleEndian.Uint32(data))
		n := int(binary.LittleEndian.Uint16(data[4:]))
		data = data[6:]
		var run []byte
		if n&fillRun != 0 {
			if len(data) == 0 {
				break
			}
			run = bytes.Repeat(data[:1], n&^fillRun)
			data = data[1:]
		} else {
			run = data[:min(n, len(data))]
			data = data[len(run):]
		}
		for len(run) > 0 && off < size {
			sec, in := off/fuzzSector, off%fuzzSector
			b, ok := s.sectors[sec]
			if !ok {
				b = make([]byte, fuzzSector)
				s.sectors[sec] = b
			}
			k := copy(b[in:], run)
			run = run[k:]
			off += int64(k)
		}
	}
	return s
}

func (s *sparseImage) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && off < s.size {
		sec, in := off/fuzzSector, off%fuzzSector
		k := min(int64(len(b)-n), fuzzSector-in, s.size-off)
		if d, ok := s.sectors[sec]; ok {
			copy(b[n:n+int(k)], d[in:])
		} else {
			clear(b[n : n+int(k)])
		}
		n += int(k)
		off += k
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// recorder notes which sectors are read through it, except by the first
// read (Read's look at the first 68 KiB).
type recorder struct {
	r     io.ReaderAt
	read  map[int64]bool
	calls int
}

func (rc *recorder) ReadAt(b []byte, off int64) (int, error) {
	if rc.calls++; rc.calls > 1 {
		for s := off / fuzzSector; s*fuzzSector < off+int64(len(b)); s++ {
			rc.read[s] = true
		}
	}
	return rc.r.ReadAt(b, off)
}

// encodeSparse encodes the non-zero bytes of the sectors of a real image
// that Read looks at (the first 4 KiB, where the boot sectors, superblocks
// and swap headers are, and whatever the parser reads after them). Small
// seeds keep the fuzzer fast: it minimises every new input.
func encodeSparse(t testing.TB, img string) []byte {
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rc := &recorder{r: f, read: map[int64]bool{}}
	if _, err := Read(context.Background(), rc, int64(len(b)), Options{Force: true}); err != nil {
		t.Fatalf("Read(seed %s) = %v", img, err)
	}
	var out []byte
	for i := 0; i+fuzzSector <= len(b); i += fuzzSector {
		if i >= 4096 && !rc.read[int64(i/fuzzSector)] {
			continue
		}
		// One record per run of non-zero bytes, runs less than 8 zeros
		// apart joined (a record costs 6 bytes); a fill record for 16 or
		// more of the same byte.
		sec := b[i : i+fuzzSector]
		for j := 0; j < len(sec); {
			if sec[j] == 0 {
				j++
				continue
			}
			if k := sameRun(sec[j:]); k >= 16 {
				out = binary.LittleEndian.AppendUint32(out, uint32(i+j))
				out = binary.LittleEndian.AppendUint16(out, uint16(k|fillRun))
				out = append(out, sec[j])
				j += k
				continue
			}
			end, zeros := j, 0
			for k := j; k < len(sec) && zeros < 8 && sameRun(sec[k:]) < 16; k++ {
				if sec[k] == 0 {
					zeros++
				} else {
					end, zeros = k+1, 0
				}
			}
			out = binary.LittleEndian.AppendUint32(out, uint32(i+j))
			out = binary.LittleEndian.AppendUint16(out, uint16(end-j))
			out = append(out, sec[j:end]...)
			j = end
		}
	}
	return out
}

// sameRun returns how many bytes at the start of b equal b[0].
func sameRun(b []byte) int {
	n := 0
	for n < len(b) && b[n] == b[0] {
		n++
	}
	return n
}

// seedFrom adds to f one seed per command, each making a filesystem in an
// image of size bytes (the image path is appended to args). A missing tool
// only leaves that seed out: the same seeds are checked in under
// testdata/fuzz/<target>/ (TestFuzzCorpus checks that they parse). To
// regenerate them:
//
//	rm -r testdata/fuzz/Fuzz{Ext4,NTFS,FAT,Read}
//	REWIND_WRITE_CORPUS=1 go test -run '^Fuzz(Ext4|NTFS|FAT|Read)$' .
func seedFrom(f *testing.F, size int64, cmds ...[]string) {
	dir := f.TempDir()
	for i, c := range cmds {
		if _, err := testutil.LookPath(c[0]); err != nil {
			continue
		}
		img := filepath.Join(dir, "seed"+itoa(i))
		testutil.SparseFile(f, img, size)
		if out, err := tryRun(f, c[0], append(c[1:], img)...); err != nil {
			f.Fatalf("%v: %v\n%s", c, err, out)
		}
		seed := encodeSparse(f, img)
		// The seed must hold all the parser reads: it gives the same map.
		fi, err := os.Open(img)
		if err != nil {
			f.Fatal(err)
		}
		head, err := readHead(fi, size)
		if err != nil {
			f.Fatal(err)
		}
		want, err := fuzzParser(f.Name())(context.Background(), fi, size, head)
		fi.Close()
		if err != nil {
			f.Fatalf("%v: parsing the image: %v", c, err)
		}
		got, err := parseSparse(f.Name(), seed, size)
		if err != nil || !cmp.Equal(got, want) {
			f.Fatalf("%v: the seed parses as %+v, %v; the image as %+v", c, got, err, want)
		}
		testutil.Seed(f, seed, size)
	}
}

// fuzzRead runs a parser on a fuzz input: it may fail but must not panic,
// must return a well-formed map, and must not allocate far beyond what the
// map itself needs.
func fuzzRead(t *testing.T, data []byte, size int64, parse parseFunc) {
	img := decodeSparse(data, size)
	head, err := readHead(img, img.size)
	if err != nil {
		return
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := parse(context.Background(), img, img.size, head)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("parsing allocated %d bytes for a %d-byte partition", alloc, img.size)
	}
	if err != nil {
		return
	}
	var sum, end int64
	for i, e := range m.Extents {
		if e.Len <= 0 || e.Off < end || (i > 0 && e.Off == end) || e.End() > img.size {
			t.Fatalf("extent %d %+v: not sorted, merged and within [0,%d)", i, e, img.size)
		}
		end = e.End()
		sum += e.Len
	}
	if sum != m.Used {
		t.Fatalf("Used = %d, want the sum of the extents %d", m.Used, sum)
	}
	if err := zeroedInside(m); err != nil {
		t.Fatal(err)
	}
}

// parseFunc is a parser a fuzz target runs: the partition's size bytes
// through r, the first of them in head.
type parseFunc func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error)

// fuzzParser returns what fuzz target name runs on its inputs.
func fuzzParser(name string) parseFunc {
	switch name {
	case "FuzzExt4":
		return func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error) {
			return readExt(ctx, r, size, head, Options{Force: true})
		}
	case "FuzzNTFS":
		return func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error) {
			return readNTFS(ctx, r, size, head, Options{})
		}
	case "FuzzFAT":
		return func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error) {
			return readFAT(ctx, r, size, head)
		}
	case "FuzzRead":
		return func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error) {
			return Read(ctx, r, size, Options{})
		}
	}
	panic("no parser for fuzz target " + name)
}

// parseSparse runs fuzz target name's parser on a fuzz input.
func parseSparse(name string, data []byte, size int64) (*Map, error) {
	img := decodeSparse(data, size)
	head, err := readHead(img, img.size)
	if err != nil {
		return nil, err
	}
	return fuzzParser(name)(context.Background(), img, img.size, head)
}

func FuzzExt4(f *testing.F) {
	seedFrom(f, 4<<20,
		[]string{"mkfs.ext4", "-q", "-F", "-U", seedUUID, "-b", "1024", "-N", "64"},
		[]string{"mkfs.ext4", "-q", "-F", "-U", seedUUID, "-b", "1024", "-N", "64", "-O", "^metadata_csum,uninit_bg,^flex_bg"},
		[]string{"mkfs.ext4", "-q", "-F", "-U", seedUUID, "-b", "1024", "-N", "64", "-O", "meta_bg,^resize_inode", "-g", "1024"},
		[]string{"mkfs.ext4", "-q", "-F", "-U", seedUUID, "-b", "4096", "-N", "64", "-g", "256"},
		[]string{"mkfs.ext2", "-q", "-F", "-U", seedUUID, "-b", "1024", "-N", "64", "-g", "512"},
		// ext3's journal is mapped through indirect blocks, ext4's
		// through extents (the first seed): both parse paths of a
		// journal whose log is zeroed.
		[]string{"mkfs.ext3", "-q", "-F", "-U", seedUUID, "-b", "1024", "-N", "64"},
	)
	f.Fuzz(func(t *testing.T, data []byte, size int64) { fuzzRead(t, data, size, fuzzParser("FuzzExt4")) })
}

func FuzzNTFS(f *testing.F) {
	seedFrom(f, 2<<20,
		[]string{"mkntfs", "-q", "-F", "-f", "-L", "fuzz"},
		[]string{"mkntfs", "-q", "-F", "-f", "-c", "512"},
	)
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		fuzzRead(t, data, size, fuzzParser("FuzzNTFS"))
		// CheckNTFS reads what Read checks before it maps, and agrees
		// with it on whether the volume is clean.
		img := decodeSparse(data, size)
		st, err := CheckNTFS(context.Background(), img, img.size, "Windows", "Users")
		if err != nil || st == nil {
			return
		}
		if _, err := parseSparse("FuzzNTFS", data, size); err != nil && errors.Is(err, ErrUnclean) != (len(st.Unclean) > 0) {
			t.Fatalf("CheckNTFS says unclean %q, Read says %v", st.Unclean, err)
		}
	})
}

func FuzzFAT(f *testing.F) {
	seedFrom(f, 1<<20, []string{"mkfs.vfat", "--invariant", "-i", "5eed0001", "-F", "12", "-n", "FUZZ"})
	seedFrom(f, 16<<20, []string{"mkfs.vfat", "--invariant", "-i", "5eed0001", "-F", "16"})
	seedFrom(f, 34<<20, []string{"mkfs.vfat", "--invariant", "-i", "5eed0001", "-F", "32", "-s", "1"})
	f.Fuzz(func(t *testing.T, data []byte, size int64) { fuzzRead(t, data, size, fuzzParser("FuzzFAT")) })
}

// FuzzRead runs the whole of Read, detection included, seeded with swap.
func FuzzRead(f *testing.F) {
	seedFrom(f, 1<<20, []string{"mkswap", "-U", seedUUID, "-L", "fuzz"})
	f.Fuzz(func(t *testing.T, data []byte, size int64) { fuzzRead(t, data, size, fuzzParser("FuzzRead")) })
}

// seedUUID makes the seeds' bytes depend less on when they were made.
const seedUUID = "5eed0000-0000-4000-8000-000000000001"

// TestFuzzCorpus checks that the checked-in seeds (made by seedFrom) parse
// into a used-block map, so that the fuzzers start from real structures
// even where mkfs is missing. Inputs the fuzzer found and that were kept as
// regression seeds are not seeds: they need not parse.
func TestFuzzCorpus(t *testing.T) {
	for _, tc := range []struct {
		target string
		fs     []string // every one of them, and only them
		mode   Mode
		min    int
		zeroed int // seeds with a zeroed journal log, at least
	}{
		{"FuzzExt4", []string{"ext4", "ext3", "ext2"}, UsedBlocks, 6, 2},
		{"FuzzNTFS", []string{"ntfs"}, UsedBlocks, 2, 0},
		{"FuzzFAT", []string{"fat12", "fat16", "fat32"}, UsedBlocks, 3, 0},
		{"FuzzRead", []string{"swap"}, HeaderOnly, 1, 0},
	} {
		seen := map[string]bool{}
		zeroed := 0
		for path, in := range testutil.Corpus(t, tc.target, tc.min) {
			data, ok1 := in[0].([]byte)
			size, ok2 := in[1].(int64)
			if len(in) != 2 || !ok1 || !ok2 {
				t.Fatalf("%s: %d values %T, want []byte and int64", path, len(in), in)
			}
			m, err := parseSparse(tc.target, data, size)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			seen[m.FS] = true
			if len(m.Zeroed) > 0 {
				zeroed++
			}
			if !slices.Contains(tc.fs, m.FS) || m.Mode != tc.mode || m.Used <= 0 || len(m.Extents) == 0 {
				t.Errorf("%s: %s map, mode %s, %d bytes used in %d extents; want one of %v, %s, some used", path, m.FS, m.Mode, m.Used, len(m.Extents), tc.fs, tc.mode)
			}
		}
		for _, fs := range tc.fs {
			if !seen[fs] {
				t.Errorf("%s: no checked-in seed is %s", tc.target, fs)
			}
		}
		if zeroed < tc.zeroed {
			t.Errorf("%s: %d checked-in seeds have a zeroed journal log, want at least %d", tc.target, zeroed, tc.zeroed)
		}
	}
}
