// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// tableSeed captures src and returns the snapshot as stored and the bytes
// of its disk's boot areas, one after the other, trailing zeros cut (the
// fuzz harness pads with zeros).
func tableSeed(f *testing.F, src *testutil.MemDisk) (snapshot, boot []byte) {
	r, dir := newLocalRepo(f, memCS)
	res, err := capture.Capture(context.Background(), r, []capture.Source{src}, capture.Options{Machine: "ws1", Map: fixedMap()})
	if err != nil {
		f.Fatal(err)
	}
	snapshot, err = os.ReadFile(filepath.Join(dir, "snapshots", res.Snapshot.ID().String()))
	if err != nil {
		f.Fatal(err)
	}
	for _, a := range res.Snapshot.Image.Disks[0].Boot {
		boot = append(boot, src.B[a.Offset:a.Offset+a.Length]...)
	}
	return snapshot, bytes.TrimRight(boot, "\x00")
}

// gptSeedDisk is a small GPT disk made by sfdisk, or nil without sfdisk.
func gptSeedDisk(f *testing.F) *testutil.MemDisk {
	p, err := testutil.LookPath("sfdisk")
	if err != nil {
		return nil
	}
	img := filepath.Join(f.TempDir(), "gpt")
	testutil.SparseFile(f, img, 32<<10)
	cmd := exec.Command(p, "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader("label: gpt\nlabel-id: 3F2504E0-4F89-11D3-9A0C-0305E82C3301\ntable-length: 4\nfirst-lba: 6\n" +
		"start=6, size=8, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=11111111-2222-3333-4444-555555555501\n" +
		"start=14, size=8, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-3333-4444-555555555502\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		f.Fatalf("sfdisk: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	return &testutil.MemDisk{B: b}
}

// FuzzLoadTable runs the restore's path from stored bytes to a partition
// table: a snapshot as stored (checked as LoadSnapshot checks it) and the
// bytes its boot areas' chunks hold, in order. loadTable must not panic
// nor allocate far beyond what the areas hold, and a table it accepts has
// the manifest's type and every partition the manifest names, in place,
// and needs a target that holds them.
func FuzzLoadTable(f *testing.F) {
	snap, boot := tableSeed(f, testutil.MBRDisk(64<<10, 4096, 32<<10, 0xcafe1234, 7))
	testutil.Seed(f, snap, boot)
	testutil.Seed(f, snap, boot[:len(boot)/2]) // a damaged table
	// A manifest whose boot area claims 256 MiB of a 1 GiB disk.
	huge := bytes.Replace(snap, []byte(`"size":65536,`), []byte(`"size":1073741824,`), 1)
	huge = bytes.Replace(huge, []byte(`"boot":[{"offset":0,"length":4096,`), []byte(`"boot":[{"offset":0,"length":268435456,`), 1)
	testutil.Seed(f, huge, boot)
	if d := gptSeedDisk(f); d != nil {
		snap, boot := tableSeed(f, d)
		testutil.Seed(f, snap, boot)
		testutil.Seed(f, snap, append(bytes.Clone(boot[:512]), make([]byte, 16)...)) // no GPT header
	}
	r, _ := newLocalRepo(f, memCS)
	var lzc lz4.Compressor
	f.Fuzz(func(t *testing.T, snapshot, boot []byte) {
		ctx := context.Background()
		s, err := repo.ParseSnapshot(snapshot, chunk.Hash(snapshot), repo.MaxChunkSize)
		if err != nil || s.Image == nil {
			return
		}
		img := s.Image
		cs := img.ChunkSize
		d := &img.Disks[0]
		// Store what the boot areas' chunks hold, taken from boot in order,
		// and name them by their hash as a capture does. Bound what is made
		// up: the claims themselves are loadTable's to check.
		var made int64
		for i := range d.Boot {
			a := &d.Boot[i]
			for j := range a.Chunks {
				c := &a.Chunks[j]
				rng := a.Range(c.I, cs)
				if made += rng.Len; made > 8<<20 {
					return
				}
				p := make([]byte, rng.Len)
				boot = boot[copy(p, boot):]
				c.ID = chunk.Hash(p)
				if c.Zero {
					continue // loadTable leaves zero chunks zero
				}
				if err := r.SaveChunk(ctx, c.ID, chunk.Encode(&lzc, nil, p)); err != nil {
					t.Fatal(err)
				}
			}
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tb, err := loadTable(ctx, r, img, d)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20+2*uint64(made) {
			t.Fatalf("loadTable allocated %d bytes for %d bytes of boot areas' chunks", alloc, made)
		}
		if err != nil {
			return
		}
		for _, p := range d.Partitions {
			if end := p.Offset + p.Length; end > tb.need {
				t.Fatalf("loadTable needs a %d-byte target, but partition %d ends at %d", tb.need, p.Index, end)
			}
		}
		if d.Table == disk.TypeNone || d.Table == "" {
			if tb.layout != nil {
				t.Fatalf("loadTable of a disk without a table = a %s layout", tb.layout.Type)
			}
			return
		}
		if tb.layout == nil || tb.layout.Type != d.Table {
			t.Fatalf("loadTable of a %s disk = layout %+v", d.Table, tb.layout)
		}
		if tb.need < tb.layout.MinTargetSize() {
			t.Fatalf("loadTable needs a %d-byte target, the layout %d", tb.need, tb.layout.MinTargetSize())
		}
		for _, p := range d.Partitions {
			found := false
			for _, q := range tb.layout.Partitions {
				found = found || q.Index == p.Index && q.Start == p.Offset && q.Size == p.Length && q.Type == p.Type && q.GUID == p.GUID
			}
			if !found {
				t.Fatalf("loadTable accepted a table without the manifest's partition %d (%d bytes at %d): %+v", p.Index, p.Length, p.Offset, tb.layout.Partitions)
			}
		}
	})
}
