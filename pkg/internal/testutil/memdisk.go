// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package testutil

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
)

// MemDisk is a disk in memory with 512-byte sectors, for unit tests of the
// capture and restore logic; the real tests use image files and loop
// devices. It counts its reads and written bytes. Safe for concurrent use;
// read the counters once the work is done.
type MemDisk struct {
	mu      sync.Mutex
	B       []byte
	Reads   int64 // ReadAt calls
	Written int64 // bytes written
	Direct  int64 // OpenDirect calls
}

// Size returns the disk's size in bytes.
func (d *MemDisk) Size() int64 { return int64(len(d.B)) }

// SectorSize returns 512.
func (d *MemDisk) SectorSize() int { return 512 }

// Sync does nothing.
func (d *MemDisk) Sync() error { return nil }

// OpenDirect returns the disk itself to read from, as a device's reads
// past its page cache do, and counts the call.
func (d *MemDisk) OpenDirect() (interface {
	io.ReaderAt
	io.Closer
}, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Direct++
	return struct {
		io.ReaderAt
		io.Closer
	}{d, io.NopCloser(nil)}, nil
}

// ReadAt implements io.ReaderAt.
func (d *MemDisk) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 || off >= int64(len(d.B)) {
		return 0, io.EOF
	}
	d.Reads++
	n := copy(p, d.B[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt implements io.WriterAt; it does not grow the disk.
func (d *MemDisk) WriteAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(d.B)) {
		return 0, errors.New("write past the end")
	}
	d.Written += int64(len(p))
	return copy(d.B[off:], p), nil
}

// MBRDisk returns a disk of size bytes with "boot code", disk signature sig
// and an MBR holding one Linux partition of n bytes at start, filled with
// pseudo-random bytes from seed.
func MBRDisk(size, start, n int64, sig uint32, seed uint64) *MemDisk {
	d := &MemDisk{B: make([]byte, size)}
	copy(d.B, "boot code")
	binary.LittleEndian.PutUint32(d.B[440:], sig)
	e := d.B[446:]
	e[4] = 0x83
	binary.LittleEndian.PutUint32(e[8:], uint32(start/512))
	binary.LittleEndian.PutUint32(e[12:], uint32(n/512))
	d.B[510], d.B[511] = 0x55, 0xaa
	r := rand.New(rand.NewPCG(seed, 2))
	for i := start; i < start+n; i++ {
		d.B[i] = byte(r.Uint32())
	}
	return d
}
