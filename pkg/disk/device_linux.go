// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func (h Host) open(path string, write bool) (*Device, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening disk %s: %w", path, err)
	}
	d := &Device{path: path, writable: write, sectorSize: 512, sysRoot: h.sys()}
	switch {
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
		d.block = true
	case fi.Mode().IsRegular():
		d.size = fi.Size()
	default:
		return nil, fmt.Errorf("%s is neither a block device nor a disk image file", path)
	}
	flags := os.O_RDONLY
	if write {
		flags = os.O_RDWR
		if d.block {
			flags |= unix.O_EXCL
		}
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		if write && d.block && errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("opening %s for writing: it is in use (mounted, swap, or held by RAID/LVM); unmount it first: %w", path, err)
		}
		return nil, fmt.Errorf("opening disk %s: %w", path, err)
	}
	d.f = f
	if !d.block {
		return d, nil
	}
	fd := int(f.Fd())
	size, err := unix.IoctlGetUint64(fd, unix.BLKGETSIZE64)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading the size of %s (BLKGETSIZE64): %w", path, err)
	}
	d.size = int64(size)
	ss, err := unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading the sector size of %s (BLKSSZGET): %w", path, err)
	}
	d.sectorSize = ss
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		d.name = h.kernelName(uint64(st.Rdev))
	}
	if d.name != "" {
		d.model, d.serial = h.modelSerial(d.name)
	}
	return d, nil
}

// kernelName maps a device number to its kernel name through
// /sys/dev/block/MAJ:MIN, or returns "".
func (h Host) kernelName(rdev uint64) string {
	link, err := os.Readlink(h.sys("dev", "block", fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))))
	if err != nil {
		return ""
	}
	return filepath.Base(link)
}

// readSys reads a sysfs attribute, trimmed; "" when absent.
func readSys(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// modelSerial reads a disk's model and serial from sysfs: device/model,
// device/serial (NVMe, USB-storage via the SCSI VPD), the disk's own serial
// (virtio), device/wwid, or the VPD page 0x80.
func (h Host) modelSerial(name string) (model, serial string) {
	dev := h.sys("class", "block", name, "device")
	model = readSys(filepath.Join(dev, "model"))
	if v := readSys(filepath.Join(dev, "vendor")); v != "" && model != "" && !strings.HasPrefix(model, v) && v != "ATA" {
		model = v + " " + model
	}
	serial = readSys(filepath.Join(dev, "serial"))
	if serial == "" {
		serial = readSys(h.sys("class", "block", name, "serial"))
	}
	if serial == "" {
		if b, err := os.ReadFile(filepath.Join(dev, "vpd_pg80")); err == nil {
			serial = vpdSerial(b)
		}
	}
	if serial == "" {
		serial = readSys(filepath.Join(dev, "wwid"))
	}
	return model, serial
}

// vpdSerial returns the product serial number a SCSI VPD page 0x80 (unit
// serial number) holds: the page length in bytes 2-3, then ASCII padded
// with spaces or NULs. A serial that is not printable ASCII is "" (the
// caller falls back to the WWID): it would not survive a manifest's JSON
// nor compare equal to what the technician types.
func vpdSerial(page []byte) string {
	if len(page) <= 4 {
		return ""
	}
	b := page[4:]
	if n := int(page[2])<<8 | int(page[3]); n < len(b) {
		b = b[:n]
	}
	s := strings.Trim(string(b), " \x00")
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return ""
		}
	}
	return s
}

// OpenDirect opens the device a second time, read-only, for reads that
// bypass the page cache (O_DIRECT): each read flushes what was written to
// its range and then reads the range from the device itself, however the
// page cache holds it. Reads may be of any offset and length; they are
// made in whole 4 KiB blocks through a buffer of their own. A filesystem
// that does not do direct I/O (tmpfs) is an error. The result is a
// *DirectReader.
func (d *Device) OpenDirect() (interface {
	io.ReaderAt
	io.Closer
}, error) {
	f, err := os.OpenFile(d.path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s for direct reads: %w", d.path, err)
	}
	return &DirectReader{f: f, size: d.size}, nil
}

// DirectReader reads a device past the page cache; see Device.OpenDirect.
// Safe for concurrent use.
type DirectReader struct {
	f    *os.File
	size int64
}

// directBlock is the alignment of direct reads: the page size, and a
// multiple of every logical sector size.
const directBlock = 4096

// ReadAt reads len(p) bytes at off from the device.
func (r *DirectReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("reading %s at %d: negative offset", r.f.Name(), off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size)
	start := off &^ (directBlock - 1)
	stop := min((end+directBlock-1)&^(directBlock-1), r.size)
	buf := alignedBuffer(int(stop - start))
	if _, err := r.f.ReadAt(buf, start); err != nil {
		return 0, fmt.Errorf("reading %d bytes at %d of %s past the page cache: %w", stop-start, start, r.f.Name(), err)
	}
	n := copy(p, buf[off-start:end-start])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Close closes the second descriptor.
func (r *DirectReader) Close() error { return r.f.Close() }

// alignedBuffer returns n bytes whose first is at a multiple of
// directBlock, as O_DIRECT needs.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directBlock)
	skip := int(-uintptr(unsafe.Pointer(&b[0])) & (directBlock - 1))
	return b[skip : skip+n : skip+n]
}

// RereadPartitions asks the kernel to re-read the partition table
// (BLKRRPART), retrying for a few seconds while the device is busy. It is a
// no-op on an image file and on devices that do not support it.
func (d *Device) RereadPartitions(ctx context.Context) error {
	if !d.block {
		return nil
	}
	var err error
	for try := 0; try < 10; try++ {
		err = unix.IoctlSetInt(int(d.f.Fd()), unix.BLKRRPART, 0)
		if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
			// EINVAL: a device without partitions support (a loop device without
			// -P); there is nothing to re-read.
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return fmt.Errorf("asking the kernel to re-read the partition table of %s: %w; the new partitions appear after a reboot", d.path, err)
}

// zeroRange tries the device's fast way to zero a range.
func (d *Device) zeroRange(ctx context.Context, off, n int64) error {
	fd := int(d.f.Fd())
	if !d.block {
		return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}
	ss := int64(d.sectorSize)
	if off%ss != 0 || n%ss != 0 {
		return fmt.Errorf("range %d+%d is not sector aligned", off, n)
	}
	// Pieces of 1 GiB, so a cancel is noticed.
	const piece = 1 << 30
	discard := readSys(filepath.Join(d.sysQueue(), "discard_zeroes_data")) == "1"
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(n, piece)
		r := [2]uint64{uint64(off), uint64(k)}
		err := ioctlPtr(fd, unix.BLKZEROOUT, unsafe.Pointer(&r[0]))
		if err != nil && discard {
			err = ioctlPtr(fd, unix.BLKDISCARD, unsafe.Pointer(&r[0]))
		}
		if err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

func (d *Device) sysQueue() string {
	return filepath.Join(d.sysRoot, "class", "block", d.name, "queue")
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}
