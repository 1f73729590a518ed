// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

func TestRuns(t *testing.T) {
	ref := func(p int32, off, n uint32) *job { return &job{ref: repo.ChunkRef{Pack: p, Off: off, Len: n}} }
	places := func(rs [][]*job) [][]uint32 {
		var out [][]uint32
		for _, r := range rs {
			var offs []uint32
			for _, j := range r {
				offs = append(offs, uint32(j.ref.Pack)<<24|j.ref.Off)
			}
			out = append(out, offs)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		batch []*job
		max   int64
		want  [][]uint32
	}{
		{"one", []*job{ref(1, 0, 10)}, 100, [][]uint32{{1<<24 | 0}}},
		{"adjacent, out of order", []*job{ref(1, 10, 10), ref(1, 0, 10), ref(1, 20, 5)}, 100, [][]uint32{{1<<24 | 0, 1<<24 | 10, 1<<24 | 20}}},
		{"a gap", []*job{ref(1, 0, 10), ref(1, 11, 10)}, 100, [][]uint32{{1<<24 | 0}, {1<<24 | 11}}},
		{"two packs", []*job{ref(2, 10, 10), ref(1, 10, 10)}, 100, [][]uint32{{1<<24 | 10}, {2<<24 | 10}}},
		{"bounded", []*job{ref(1, 0, 10), ref(1, 10, 10), ref(1, 20, 10)}, 20, [][]uint32{{1<<24 | 0, 1<<24 | 10}, {1<<24 | 20}}},
		{"one per read", []*job{ref(1, 0, 10), ref(1, 10, 10)}, 1, [][]uint32{{1<<24 | 0}, {1<<24 | 10}}},
	} {
		if got := places(runs(tc.batch, tc.max)); !cmp.Equal(got, tc.want) {
			t.Errorf("%s: runs = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// countReads counts the reads of packs.
type countReads struct {
	store.Store
	n atomic.Int64
}

func (c *countReads) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	if strings.HasPrefix(name, "packs/") {
		c.n.Add(1)
	}
	return c.Store.ReadAt(ctx, name, p, off)
}

// TestRestoreReadsRuns: a restore from packs reads chunks that lie next to
// each other in one request, and restores the same bytes as one that
// reads each chunk on its own.
func TestRestoreReadsRuns(t *testing.T) {
	ctx := context.Background()
	f := newMemFixture(t)
	s, err := local.Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	var got [2]int64
	for k, runBytes := range []int64{1, 0} {
		counted := &countReads{Store: s}
		r, err := repo.Open(ctx, counted)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := r.LoadSnapshot(ctx, f.snap.ID())
		if err != nil {
			t.Fatal(err)
		}
		counted.n.Store(0)
		dst := &testutil.MemDisk{B: make([]byte, len(f.src.B))}
		sum, err := Restore(ctx, r, snap, []Target{dst}, Options{Fetches: 1, Workers: 4, RunBytes: runBytes})
		if err != nil {
			t.Fatal(err)
		}
		f.checkUsed(t, dst)
		got[k] = counted.n.Load()
		t.Logf("RunBytes %d: %d chunks fetched in %d reads", runBytes, sum.Fetches, got[k])
		// The partition table's chunks are read on their own first.
		var table int64
		for _, a := range snap.Image.Disks[0].BootAreas() {
			for _, c := range a.Chunks {
				if !c.Zero {
					table++
				}
			}
		}
		if runBytes == 1 && got[k] != sum.Fetches+table {
			t.Errorf("one chunk per read: %d reads for %d chunks and %d of the table", got[k], sum.Fetches, table)
		}
	}
	if got[1] >= got[0] {
		t.Errorf("runs of chunks took %d reads, one chunk per read %d: want fewer", got[1], got[0])
	}
}
