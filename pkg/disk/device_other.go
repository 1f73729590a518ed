// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !linux

package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// On systems other than Linux only disk image files can be opened.
func (h Host) open(path string, write bool) (*Device, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening disk %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: only disk image files can be opened on this system", path)
	}
	flags := os.O_RDONLY
	if write {
		flags = os.O_RDWR
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("opening disk %s: %w", path, err)
	}
	return &Device{f: f, path: path, size: fi.Size(), sectorSize: 512, writable: write}, nil
}

// RereadPartitions is a no-op for image files.
func (d *Device) RereadPartitions(ctx context.Context) error { return nil }

func (d *Device) zeroRange(ctx context.Context, off, n int64) error {
	return errors.New("no fast zeroing on this system")
}
