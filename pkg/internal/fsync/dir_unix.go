// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !windows

// Package fsync makes what was written durable where the system allows.
package fsync

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Dir makes a rename durable. Filesystems that cannot sync a directory
// (some FAT and network mounts) say EINVAL; their renames are as durable as
// they get.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("syncing folder %s: %w", dir, err)
	}
	return nil
}
