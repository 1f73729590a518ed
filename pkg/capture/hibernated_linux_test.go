// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build linux

package capture

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/ntfstest"
)

// TestCaptureHibernated images a real hibernated NTFS volume raw (its
// allocation cannot be trusted) and still records what it is: a replay of
// Windows user files finds the volume by its filesystem and label.
func TestCaptureHibernated(t *testing.T) {
	img, psize := ntfstest.Disk(t, 24<<20, "Win", func(root string) {
		hibr := make([]byte, 64<<10)
		copy(hibr, "HIBR")
		if err := os.WriteFile(filepath.Join(root, "hiberfil.sys"), hibr, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	d, err := disk.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := Capture(context.Background(), newRepo(t, 64<<10), []Source{d}, Options{Machine: "ws1"})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Snapshot.Image.Disks[0].Partitions[0]
	if p.Mode != "raw" || p.UsedBytes != psize || p.FS != "ntfs" || p.Label != "Win" || len(p.UUID) != 16 || !strings.Contains(p.Reason, "hibernated") {
		t.Errorf("hibernated NTFS: mode %q, used %d, fs %q, label %q, UUID %q, reason %q; want raw, %d, ntfs, Win, a serial, hibernated",
			p.Mode, p.UsedBytes, p.FS, p.Label, p.UUID, p.Reason, psize)
	}
}
