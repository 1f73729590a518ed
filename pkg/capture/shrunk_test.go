// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package capture

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

// shrunkDisk says it is as large as its MemDisk but ends at end: an image
// file truncated, or a device that went away, under the capture.
type shrunkDisk struct {
	*testutil.MemDisk
	end int64
}

func (d *shrunkDisk) ReadAt(p []byte, off int64) (int, error) {
	if off >= d.end {
		return 0, io.EOF
	}
	if rest := d.end - off; int64(len(p)) > rest {
		n, _ := d.MemDisk.ReadAt(p[:rest], off)
		return n, io.EOF
	}
	return d.MemDisk.ReadAt(p, off)
}

// TestCaptureShortRead captures a disk whose used bytes end early: the
// capture fails, naming the disk and the offset, with an error that wraps
// io.ErrUnexpectedEOF and not io.EOF (which callers take for a clean end).
func TestCaptureShortRead(t *testing.T) {
	const cs, start, n = 64 << 10, 1 << 20, 2 << 20
	s, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(context.Background(), s, repo.InitOptions{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	src := &shrunkDisk{MemDisk: testutil.MBRDisk(4<<20, start, n, 0xcafe1234, 3), end: start + n/2}
	whole := func(ctx context.Context, _ io.ReaderAt, size int64) (*blockmap.Map, error) {
		return &blockmap.Map{Summary: blockmap.Summary{FS: "test", Mode: blockmap.UsedBlocks, Used: size}, Extents: []blockmap.Extent{{Off: 0, Len: size}}}, nil
	}
	_, err = Capture(context.Background(), r, []Source{src}, Options{Machine: "ws1", Map: whole, Workers: 2, ReadSize: 1 << 20})
	// The read that crosses the end: the second MiB of the partition.
	where := "disk offset " + strconv.Itoa(start+n/2)
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "disk 1") || !strings.Contains(err.Error(), where) {
		t.Errorf("Capture(disk ending at %d) = %v; want io.ErrUnexpectedEOF (not io.EOF) naming disk 1 and %q", src.end, err, where)
	}
}
