// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// A fuzz input is a sparse partition image: records of a 4-byte sector
// number and 512 bytes of content; every other sector reads as zeros. This
// keeps inputs small while the metadata they describe can be anywhere.
const fuzzSector = 512

// fuzzMaxSize bounds the partition size a fuzz input may claim.
const fuzzMaxSize = 64 << 20

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
	for len(data) >= 4+fuzzSector {
		n := int64(binary.LittleEndian.Uint32(data))
		if n*fuzzSector < size {
			s.sectors[n] = data[4 : 4+fuzzSector]
		}
		data = data[4+fuzzSector:]
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

// encodeSparse encodes the sectors of a real image that Read looks at
// (the first 4 KiB, where the boot sectors, superblocks and swap headers
// are, and whatever the parser reads after them) and that are not all
// zeros. Small seeds keep the fuzzer fast: it minimises every new input.
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
		s := b[i : i+fuzzSector]
		if allZero(s) || (i >= 4096 && !rc.read[int64(i/fuzzSector)]) {
			continue
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(i/fuzzSector))
		out = append(out, s...)
	}
	return out
}

// seedFrom adds to f one seed per command, each making a filesystem in an
// image of size bytes (the image path is appended to args). A missing tool
// only leaves that seed out.
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
		f.Add(encodeSparse(f, img), size)
	}
}

// fuzzRead runs a parser on a fuzz input: it may fail but must not panic,
// must return a well-formed map, and must not allocate far beyond what the
// map itself needs.
func fuzzRead(t *testing.T, data []byte, size int64, parse func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error)) {
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
}

func FuzzExt4(f *testing.F) {
	seedFrom(f, 4<<20,
		[]string{"mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "64"},
		[]string{"mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "64", "-O", "^metadata_csum,uninit_bg,^flex_bg"},
		[]string{"mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "64", "-O", "meta_bg,^resize_inode", "-g", "1024"},
		[]string{"mkfs.ext4", "-q", "-F", "-b", "4096", "-N", "64", "-g", "256"},
		[]string{"mkfs.ext2", "-q", "-F", "-b", "1024", "-N", "64", "-g", "512"},
	)
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		fuzzRead(t, data, size, func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error) {
			return readExt(ctx, r, size, head, Options{Force: true})
		})
	})
}

func FuzzNTFS(f *testing.F) {
	seedFrom(f, 2<<20,
		[]string{"mkntfs", "-q", "-F", "-f", "-L", "fuzz"},
		[]string{"mkntfs", "-q", "-F", "-f", "-c", "512"},
	)
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		fuzzRead(t, data, size, func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error) {
			return readNTFS(ctx, r, size, head, Options{})
		})
	})
}

func FuzzFAT(f *testing.F) {
	seedFrom(f, 1<<20, []string{"mkfs.vfat", "-F", "12", "-n", "FUZZ"})
	seedFrom(f, 16<<20, []string{"mkfs.vfat", "-F", "16"})
	seedFrom(f, 34<<20, []string{"mkfs.vfat", "-F", "32", "-s", "1"})
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		fuzzRead(t, data, size, func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error) {
			return readFAT(ctx, r, size, head)
		})
	})
}

// FuzzRead runs the whole of Read, detection included, seeded with swap.
func FuzzRead(f *testing.F) {
	seedFrom(f, 1<<20, []string{"mkswap", "-L", "fuzz"})
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		fuzzRead(t, data, size, func(ctx context.Context, r io.ReaderAt, size int64, head []byte) (*Map, error) {
			return Read(ctx, r, size, Options{})
		})
	})
}
