// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// countingDevice is a disk image opened for writing that counts the bytes
// written to it; the rest of *disk.Device (sector size, path) shows through.
type countingDevice struct {
	*disk.Device
	written atomic.Int64
}

func (d *countingDevice) WriteAt(p []byte, off int64) (int, error) {
	n, err := d.Device.WriteAt(p, off)
	d.written.Add(int64(n))
	return n, err
}

// TestRestoreTwiceWritesNothing restores each test disk onto a blank one,
// of the same size and larger (a GPT's backup moves), then again: the
// second restore finds the partition tables, boot areas and chunks in
// place and writes nothing, not even the ~1 MiB of boot areas.
func TestRestoreTwiceWritesNothing(t *testing.T) {
	for _, td := range testDisks {
		for _, extra := range []int64{0, 8 << 20} {
			t.Run(td.name+"/+"+itoa(extra>>20)+"MiB", func(t *testing.T) {
				d := td.build(t, t.TempDir())
				r, _ := newLocalRepo(t, 0)
				snap := captureImage(t, r, d.path, "ws1").Snapshot
				img := snap.Image
				path := filepath.Join(t.TempDir(), "target.img")
				testutil.SparseFile(t, path, d.size+extra)

				restore := func() (*Summary, int64) {
					t.Helper()
					dev, err := disk.OpenWrite(path)
					if err != nil {
						t.Fatal(err)
					}
					defer dev.Close()
					dst := &countingDevice{Device: dev}
					sum, err := Restore(context.Background(), r, snap, []Target{dst}, Options{})
					if err != nil {
						t.Fatalf("Restore = %v", err)
					}
					return sum, dst.written.Load()
				}
				first, wrote := restore()
				if wrote == 0 || first.Written == 0 {
					t.Fatalf("Restore(blank) wrote %d bytes (summary %d), want some", wrote, first.Written)
				}
				head, want := make([]byte, d.parts[0].off()), make([]byte, d.parts[0].off())
				readAt(t, path, head, 0)
				readAt(t, d.path, want, 0)
				// On a larger disk the GPT header names the moved backup.
				if extra == 0 && string(head) != string(want) {
					t.Errorf("the bytes before the first partition differ after the restore")
				}
				hash := testutil.FileHash(t, path)

				again, wrote := restore()
				if wrote != 0 || again.Written != 0 || again.Fetches != 0 {
					t.Errorf("Restore(again) wrote %d bytes (summary: %d written, %d chunks fetched), want 0, 0, 0", wrote, again.Written, again.Fetches)
				}
				// Every used byte, boot areas included, was found in place.
				if again.Skipped < img.UsedBytes() {
					t.Errorf("Restore(again) skipped %d bytes, want at least the image's %d used bytes (%d of them in boot areas)",
						again.Skipped, img.UsedBytes(), img.Disks[0].BootAreas().UsedBytes())
				}
				if !again.Verified {
					t.Errorf("Restore(again) did not verify")
				}
				if got := testutil.FileHash(t, path); got != hash {
					t.Errorf("Restore(again) changed the target's bytes")
				}
			})
		}
	}
}
