// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// Benchmarks of Read on 2 GiB filesystems about 60% full. Building the
// images takes a while (NTFS writes 1.2 GB through ntfscp), so it happens
// only when the benchmark runs: `go test -run '^$' -bench . ./pkg/blockmap`.
//
// "cold" drops the image from the page cache before each Read, so the
// metadata comes from the disk; "warm" reads it from the cache. MB-read/op
// is how much metadata Read fetched.

const benchSize = 2 << 30

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	c.n.Add(int64(n))
	return n, err
}

func benchRead(b *testing.B, img string) {
	m := mustMap(b, img)
	b.Logf("%s: %d of %d bytes used (%.0f%%), %d extents", m.FS, m.Used, m.Total, 100*float64(m.Used)/float64(m.Total), len(m.Extents))
	for _, cold := range []bool{true, false} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			f, err := os.Open(img)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			cr := &countingReader{r: f}
			for i := 0; i < b.N; i++ {
				if cold {
					b.StopTimer()
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
					if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if _, err := Read(context.Background(), cr, benchSize, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cr.n.Load())/float64(b.N)/1e6, "MB-read/op")
		})
	}
}

// BenchmarkReadExt4: a default mkfs.ext4 (4K blocks, flex_bg,
// metadata_csum) holding 100 written files of up to 1 MiB and 3000 files of
// 400 KiB allocated with debugfs fallocate, a third of them then deleted,
// 1500 of 280 KiB allocated on top and a quarter of those deleted, so that
// holes are left between files.
func BenchmarkReadExt4(b *testing.B) {
	testutil.NeedTool(b, "mkfs.ext4", "debugfs")
	dir := b.TempDir()
	img := filepath.Join(dir, "ext4.img")
	testutil.SparseFile(b, img, benchSize)
	run(b, "mkfs.ext4", "-F", "-q", "-b", "4096", img)
	tree := filepath.Join(dir, "tree")
	names := makeTree(b, tree, 1, 100, 1<<20)
	var cmds strings.Builder
	for _, d := range []string{"docs", "docs/old", "photos", "bulk"} {
		fmt.Fprintf(&cmds, "mkdir /%s\n", d)
	}
	for _, n := range names {
		fmt.Fprintf(&cmds, "write %s /%s\n", filepath.Join(tree, n), n)
	}
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&cmds, "write /dev/null /bulk/a%d\nfallocate /bulk/a%d 0 99\n", i, i)
	}
	for i := 0; i < 3000; i += 3 {
		fmt.Fprintf(&cmds, "rm /bulk/a%d\n", i)
	}
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&cmds, "write /dev/null /bulk/b%d\nfallocate /bulk/b%d 0 69\n", i, i)
	}
	for i := 0; i < 1500; i += 4 {
		fmt.Fprintf(&cmds, "rm /bulk/b%d\n", i)
	}
	cf := filepath.Join(dir, "cmds")
	if err := os.WriteFile(cf, []byte(cmds.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	run(b, "debugfs", "-w", "-f", cf, img)
	b.ResetTimer()
	benchRead(b, img)
}

// BenchmarkReadNTFS: mkntfs with 4K clusters, filled to about 60% by
// ntfscp: 60 files of 20 MiB and 200 small ones, the large ones written
// between the small ones so that the bitmap has many runs.
func BenchmarkReadNTFS(b *testing.B) {
	testutil.NeedTool(b, "mkntfs", "ntfscp")
	dir := b.TempDir()
	img := filepath.Join(dir, "ntfs.img")
	tree := filepath.Join(dir, "tree")
	small := flatTree(b, tree, 2, 200, 64<<10)
	big := filepath.Join(dir, "big")
	data := make([]byte, 20<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(big, data, 0o644); err != nil {
		b.Fatal(err)
	}
	testutil.SparseFile(b, img, benchSize)
	run(b, "mkntfs", "-q", "-F", "-f", img)
	for i := 0; i < 60; i++ {
		run(b, "ntfscp", "-f", img, big, fmt.Sprintf("/big%d", i))
		for _, n := range small[i*3 : i*3+3] {
			run(b, "ntfscp", "-f", img, filepath.Join(tree, n), "/"+n)
		}
	}
	b.ResetTimer()
	benchRead(b, img)
}
