// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rewind-backup/rewind/pkg/human"
)

// Host names where the kernel's view of the machine is read from. The zero
// value reads the running system (/sys, /proc); tests point it at a fake
// tree. BootMedia lists devices the boot environment was started from (the
// USB stick), which CheckWritable refuses and ListDisks marks.
type Host struct {
	SysRoot   string   // default "/sys"
	ProcRoot  string   // default "/proc"
	BootMedia []string // device paths, e.g. "/dev/sdb" or a partition of it
}

func (h Host) sys(p ...string) string {
	root := h.SysRoot
	if root == "" {
		root = "/sys"
	}
	return filepath.Join(append([]string{root}, p...)...)
}

func (h Host) proc(p ...string) string {
	root := h.ProcRoot
	if root == "" {
		root = "/proc"
	}
	return filepath.Join(append([]string{root}, p...)...)
}

// Device is an open disk: a block device or a regular disk image file.
// ReadAt and WriteAt may be called concurrently.
type Device struct {
	f          *os.File
	sysRoot    string // h.sys(), for queue attributes
	path       string
	name       string // kernel name, e.g. "nvme0n1"; "" for image files
	model      string
	serial     string
	size       int64
	sectorSize int
	block      bool
	writable   bool
}

// ErrOutOfRange: an I/O request reaches past the end of the device.
var ErrOutOfRange = errors.New("range past the end of the device")

// Open opens a block device or disk image file read-only.
func Open(path string) (*Device, error) { return Host{}.Open(path) }

// OpenWrite opens a block device (exclusively: it fails if the disk or one
// of its partitions is mounted) or an existing disk image file read-write.
// It does not check CheckWritable; callers do that first.
func OpenWrite(path string) (*Device, error) { return Host{}.OpenWrite(path) }

// Open is the package's Open, reading device details from h.
func (h Host) Open(path string) (*Device, error) { return h.open(path, false) }

// OpenWrite is the package's OpenWrite, reading device details from h.
func (h Host) OpenWrite(path string) (*Device, error) { return h.open(path, true) }

// Path returns the path the device was opened with.
func (d *Device) Path() string { return d.path }

// Name returns the kernel's name of a block device ("sda", "nvme0n1"), or
// "" for an image file.
func (d *Device) Name() string { return d.name }

// Model returns the disk's model as the kernel reports it, or "".
func (d *Device) Model() string { return d.model }

// Serial returns the disk's serial number as the kernel reports it, or "".
func (d *Device) Serial() string { return d.serial }

// Size returns the size in bytes.
func (d *Device) Size() int64 { return d.size }

// SectorSize returns the logical sector size (512 for image files).
func (d *Device) SectorSize() int { return d.sectorSize }

// IsBlock reports whether the device is a block device (not an image file).
func (d *Device) IsBlock() bool { return d.block }

// ReadAt reads len(p) bytes at off.
func (d *Device) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }

// WriteAt writes p at off; writing past Size is refused with ErrOutOfRange
// (an image file does not grow).
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	if !d.writable {
		return 0, fmt.Errorf("writing to %s: it was opened read-only (use OpenWrite)", d.path)
	}
	if off < 0 || off+int64(len(p)) > d.size {
		return 0, fmt.Errorf("writing %d bytes at %d to %s (%d bytes): %w", len(p), off, d.path, d.size, ErrOutOfRange)
	}
	return d.f.WriteAt(p, off)
}

// Sync flushes written data to the disk.
func (d *Device) Sync() error {
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("flushing %s: %w", d.path, err)
	}
	return nil
}

// Close closes the device.
func (d *Device) Close() error { return d.f.Close() }

// String describes the device for the technician: path, model, serial, size.
func (d *Device) String() string {
	var b strings.Builder
	b.WriteString(d.path)
	if d.model != "" {
		fmt.Fprintf(&b, " %s", d.model)
	}
	if d.serial != "" {
		fmt.Fprintf(&b, " (serial %s)", d.serial)
	}
	fmt.Fprintf(&b, ", %s", human.Bytes(d.size))
	return b.String()
}

// ZeroRange makes the bytes [off, off+n) read as zeros: BLKZEROOUT on a
// block device (falling back to BLKDISCARD only where the device says
// discarded blocks read as zeros, then to writing zeros); on an image file,
// a punched hole, else written zeros.
func (d *Device) ZeroRange(ctx context.Context, off, n int64) error {
	if !d.writable {
		return fmt.Errorf("zeroing part of %s: it was opened read-only (use OpenWrite)", d.path)
	}
	if off < 0 || n < 0 || off+n > d.size {
		return fmt.Errorf("zeroing %d bytes at %d of %s (%d bytes): %w", n, off, d.path, d.size, ErrOutOfRange)
	}
	if n == 0 {
		return nil
	}
	if err := d.zeroRange(ctx, off, n); err == nil || ctx.Err() != nil {
		return err
	}
	return d.writeZeros(ctx, off, n)
}

// writeZeros writes zeros in 1 MiB pieces, stopping when ctx is cancelled.
func (d *Device) writeZeros(ctx context.Context, off, n int64) error {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(n, int64(len(buf)))
		if _, err := d.f.WriteAt(buf[:k], off); err != nil {
			return fmt.Errorf("writing zeros at %d of %s: %w", off, d.path, err)
		}
		off += k
		n -= k
	}
	return nil
}
