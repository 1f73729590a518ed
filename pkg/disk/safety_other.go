// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !linux

package disk

import (
	"errors"
	"fmt"
	"os"
)

// DiskInfo describes a whole disk for the restore wizard's list.
type DiskInfo struct {
	Name       string `json:"name"`
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	Model      string `json:"model,omitempty"`
	Serial     string `json:"serial,omitempty"`
	Removable  bool   `json:"removable,omitempty"`
	ReadOnly   bool   `json:"read_only,omitempty"`
	BootMedium bool   `json:"boot_medium,omitempty"`
	Refusal    string `json:"refusal,omitempty"`
}

// errUnsupported: disks can only be listed and checked on Linux.
var errUnsupported = errors.New("disks can be listed and checked only on Linux (the boot environment)")

// CheckWritable allows disk image files; on this system it cannot check
// block devices and refuses them.
func CheckWritable(path string, bootMedia ...string) error {
	return Host{BootMedia: bootMedia}.CheckWritable(path)
}

// ListDisks is not available on this system.
func ListDisks(bootMedia ...string) ([]DiskInfo, error) { return nil, errUnsupported }

// CheckCapturable allows disk image files; on this system it cannot check
// block devices and refuses them.
func CheckCapturable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("checking %s before reading: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w", path, errUnsupported)
	}
	return nil
}

// CheckWritable allows disk image files only.
func (h Host) CheckWritable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("checking %s before writing: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w to %s: %w", ErrRefused, path, errUnsupported)
	}
	return nil
}

// ListDisks is not available on this system.
func (h Host) ListDisks() ([]DiskInfo, error) { return nil, errUnsupported }
