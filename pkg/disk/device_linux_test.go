// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// checkZeroRange fills the first 1 MiB of d with random bytes, zeroes
// [off, off+n) and checks that exactly that range reads as zeros.
func checkZeroRange(t *testing.T, d *Device, off, n int64) {
	t.Helper()
	data := randomBytes(7, mib)
	if _, err := d.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := d.ZeroRange(context.Background(), off, n); err != nil {
		t.Fatalf("ZeroRange(%d, %d) on %s = %v", off, n, d.Path(), err)
	}
	got := make([]byte, mib)
	if _, err := d.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), data...)
	clear(want[off : off+n])
	if !bytes.Equal(got, want) {
		t.Errorf("after ZeroRange(%d, %d) on %s: contents differ from the expected", off, n, d.Path())
	}
}

func TestDeviceImageFile(t *testing.T) {
	p := sparseFile(t, "disk.img", 4*mib)
	d, err := OpenWrite(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Size() != 4*mib || d.SectorSize() != 512 || d.IsBlock() || d.Name() != "" {
		t.Errorf("OpenWrite(image) = size %d, sector %d, block %v, name %q; want %d, 512, false, \"\"",
			d.Size(), d.SectorSize(), d.IsBlock(), d.Name(), 4*mib)
	}
	if _, err := d.WriteAt(make([]byte, 512), 4*mib-256); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("WriteAt(past the end) = %v, want ErrOutOfRange", err)
	}
	if err := d.RereadPartitions(context.Background()); err != nil {
		t.Errorf("RereadPartitions(image) = %v, want nil", err)
	}
	checkZeroRange(t, d, 4096, 65536)
	checkZeroRange(t, d, 1000, 3000) // not block aligned: hole punching copes
	if fi, err := os.Stat(p); err != nil || fi.Size() != 4*mib {
		t.Errorf("image size after ZeroRange = %v, %v; want %d", fi.Size(), err, 4*mib)
	}
	if err := d.ZeroRange(context.Background(), 4*mib-512, 1024); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("ZeroRange(past the end) = %v, want ErrOutOfRange", err)
	}
	ro, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.WriteAt([]byte{1}, 0); err == nil {
		t.Errorf("WriteAt on a read-only Open = nil, want an error")
	}
}

func TestDeviceLoop(t *testing.T) {
	img := sparseFile(t, "disk.img", 8*mib)
	dev := attachLoop(t, img)
	d, err := OpenWrite(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	name := strings.TrimPrefix(dev, "/dev/")
	if d.Size() != 8*mib || d.SectorSize() != 512 || !d.IsBlock() || d.Name() != name {
		t.Errorf("OpenWrite(%s) = size %d, sector %d, block %v, name %q; want %d, 512, true, %q",
			dev, d.Size(), d.SectorSize(), d.IsBlock(), d.Name(), 8*mib, name)
	}
	checkZeroRange(t, d, 64<<10, 256<<10)
	if err := d.RereadPartitions(context.Background()); err != nil {
		t.Errorf("RereadPartitions(%s) = %v, want nil", dev, err)
	}
	if err := d.ZeroRange(context.Background(), 100, 512); err != nil {
		t.Errorf("ZeroRange(unaligned) on %s = %v, want the zero-writing fallback to succeed", dev, err)
	}
	if s := d.String(); !strings.Contains(s, dev) || !strings.Contains(s, "8.0 MiB") {
		t.Errorf("Device.String() = %q, want the path and size", s)
	}
}

// A 4Kn disk: the GPT header sits at byte 4096, LBAs count 4096-byte sectors.
func TestFourKn(t *testing.T) {
	ctx := context.Background()
	img := sparseFile(t, "4kn.img", 16*mib)
	dev := attachLoop(t, img, "--sector-size", "4096")
	run(t, "label: gpt\nlabel-id: 3F2504E0-4F89-11D3-9A0C-0305E82C3301\nstart=256, size=512, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"EFI\"\nsize=1024, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-3333-4444-555555555502\n",
		"sfdisk", "--no-reread", "--no-tell-kernel", "-q", dev)
	d, err := Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.SectorSize() != 4096 {
		t.Fatalf("Open(%s).SectorSize() = %d, want 4096", dev, d.SectorSize())
	}
	l, err := ReadLayout(d, d.Size())
	if err != nil {
		t.Fatalf("ReadLayout(4Kn %s) = %v", dev, err)
	}
	var j sfdiskJSON
	if err := json.Unmarshal([]byte(run(t, "", "sfdisk", "--json", dev)), &j); err != nil {
		t.Fatal(err)
	}
	if l.SectorSize != 4096 || l.Type != TypeGPT || len(l.Partitions) != 2 || l.DiskGUID != j.PartitionTable.ID {
		t.Fatalf("ReadLayout(4Kn) = %+v, want a 4096-byte-sector GPT with 2 partitions", l)
	}
	for i, p := range j.PartitionTable.Partitions {
		if got := l.Partitions[i]; got.Start != p.Start*4096 || got.Size != p.Size*4096 || got.GUID != p.UUID {
			t.Errorf("ReadLayout(4Kn) partition %d = %+v, sfdisk says start %d size %d uuid %s (4096-byte sectors)", i+1, got, p.Start, p.Size, p.UUID)
		}
	}
	// The image file alone (no sector size known) is recognised by probing.
	f, err := Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl, err := ReadLayout(f, f.Size())
	if err != nil || fl.SectorSize != 4096 || !cmp.Equal(fl.Partitions, l.Partitions) {
		t.Errorf("ReadLayout(4Kn image file) = %+v, %v; want the same layout as the device's", fl, err)
	}

	saved, err := CaptureRegions(ctx, d, l)
	if err != nil {
		t.Fatal(err)
	}
	tdev := attachLoop(t, sparseFile(t, "target.img", 24*mib), "--sector-size", "4096")
	w, err := OpenWrite(tdev)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := WriteTable(ctx, w, w.Size(), saved, l); err != nil {
		t.Fatalf("WriteTable(4Kn, larger) = %v", err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	sgdiskVerifyClean(t, tdev)
	got, err := ReadLayout(w, w.Size())
	if err != nil || !cmp.Equal(got.Partitions, l.Partitions) || got.DiskGUID != l.DiskGUID || got.BackupLBA != uint64(24*mib/4096-1) {
		t.Errorf("after WriteTable(4Kn, larger): %+v, %v; want the captured partitions, backup at the last sector", got, err)
	}

	small := attachLoop(t, sparseFile(t, "512.img", 24*mib))
	w512, err := OpenWrite(small)
	if err != nil {
		t.Fatal(err)
	}
	defer w512.Close()
	if err := WriteTable(ctx, w512, w512.Size(), saved, l); !errors.Is(err, ErrSectorSize) {
		t.Errorf("WriteTable(4Kn table onto a 512-byte-sector disk) = %v, want ErrSectorSize", err)
	}
}

// Every disk ListDisks shows opens read-only with the same name, size, model
// and serial; a loop device attached here is among them and reads back the
// bytes written to its image.
func TestOpenHostDisks(t *testing.T) {
	const size = 6*mib + 3*512
	img := sparseFile(t, "disk.img", size)
	data := randomBytes(11, 64<<10)
	const off = 2*mib + 512
	testutil.PatchFile(t, img, off, data)
	dev := attachLoop(t, img)
	disks, err := ListDisks()
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, di := range disks {
		d, err := Open(di.Path)
		if errors.Is(err, fs.ErrPermission) && di.Path != dev {
			// A container's device policy may forbid the host's own disks even to root.
			t.Logf("Open(%s) = %v: not allowed on this machine", di.Path, err)
			continue
		}
		if err != nil {
			t.Errorf("Open(%s) = %v, want the disk ListDisks listed opened", di.Path, err)
			continue
		}
		if d.Name() != di.Name || d.Size() != di.Size || d.Model() != di.Model || d.Serial() != di.Serial || !d.IsBlock() {
			t.Errorf("Open(%s) = name %q size %d model %q serial %q; ListDisks says %+v", di.Path, d.Name(), d.Size(), d.Model(), d.Serial(), di)
		}
		if di.Path == dev {
			seen = true
			got := make([]byte, len(data))
			if _, err := d.ReadAt(got, off); err != nil {
				t.Errorf("ReadAt(%s, %d) = %v", dev, off, err)
			} else if !bytes.Equal(got, data) {
				t.Errorf("ReadAt(%s, %d): %d bytes differ from those written to its image", dev, off, len(data))
			}
			if d.Size() != size {
				t.Errorf("Open(%s).Size() = %d, want %d", dev, d.Size(), size)
			}
		}
		d.Close()
	}
	if !seen {
		t.Errorf("ListDisks() = %+v, want the loop device %s among them", disks, dev)
	}
}

// TestOpenDirect reads an image file past the page cache, at offsets and
// lengths that are not whole blocks, up to its end (not a whole block
// either), right after a buffered write that is still in the cache.
func TestOpenDirect(t *testing.T) {
	const size = 4*mib + 1536
	p := sparseFile(t, "disk.img", size)
	d, err := OpenWrite(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	data := randomBytes(9, size)
	if _, err := d.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	r, err := d.OpenDirect()
	if err != nil {
		t.Fatalf("OpenDirect = %v", err)
	}
	defer r.Close()
	for _, c := range []struct{ off, n int64 }{{0, mib}, {512, 4096}, {4095, 3}, {mib - 100, 70000}, {size - 1000, 1000}, {size - 4096 - 512, 4096 + 512}} {
		got := make([]byte, c.n)
		if n, err := r.ReadAt(got, c.off); err != nil || n != int(c.n) || !bytes.Equal(got, data[c.off:c.off+c.n]) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v, or the bytes differ from those written", c.n, c.off, n, err)
		}
	}
	got := make([]byte, 2048)
	if n, err := r.ReadAt(got, size-1024); n != 1024 || err != io.EOF || !bytes.Equal(got[:n], data[size-1024:]) {
		t.Errorf("ReadAt(across the end) = %d, %v; want 1024 bytes and io.EOF", n, err)
	}
}
