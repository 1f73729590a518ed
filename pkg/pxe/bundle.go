// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// The bundle's files the scripts load.
const (
	Kernel    = "vmlinuz"
	Initramfs = "initramfs.cpio.zst"
)

// ErrRefused marks a file request that names something outside the bundle,
// or something that is not a plain file name: "..", a backslash, a NUL.
var ErrRefused = errors.New("refused")

// maxName bounds a requested file name.
const maxName = 255

// Bundle is the folder `make pxe` fills: boot.ipxe, vmlinuz,
// initramfs.cpio.zst and the first-stage files. Everything in it is public
// (it is the same for every machine); per-machine settings are never in it.
// Files are opened through an os.Root, so neither ".." nor a symbolic link
// leads out of it.
type Bundle struct {
	dir  string
	root *os.Root
}

// OpenBundle opens the bundle folder dir.
func OpenBundle(dir string) (*Bundle, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle folder %s cannot be opened (%w); build it with make pxe and name it with --bundle", dir, err)
	}
	return &Bundle{dir: dir, root: r}, nil
}

// Close releases the bundle's folder.
func (b *Bundle) Close() error { return b.root.Close() }

// Dir is the bundle's folder.
func (b *Bundle) Dir() string { return b.dir }

// Open opens the plain file name in the bundle for reading. name is
// relative to the bundle; one leading '/' is allowed (GRUB and some PXE
// ROMs ask for "/grub/grub.cfg") and means the bundle's top. Errors wrap
// ErrRefused for names that try to leave the bundle and fs.ErrNotExist for
// files that are not there; a folder or device is not served.
func (b *Bundle) Open(name string) (*os.File, fs.FileInfo, error) {
	rel, err := CleanName(name)
	if err != nil {
		return nil, nil, err
	}
	f, err := b.root.Open(rel)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			// os.Root: "path escapes from parent" through a symbolic link.
			return nil, nil, fmt.Errorf("%q leads out of the bundle: %w", name, ErrRefused)
		}
		return nil, nil, fmt.Errorf("%q: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%q is not a plain file: %w", name, fs.ErrNotExist)
	}
	return f, fi, nil
}

// CleanName checks a requested file name and returns it relative to the
// bundle's top. It refuses (ErrRefused) empty and over-long names, NUL
// bytes, backslashes, and any ".." element; it never decodes percent
// escapes (TFTP has none; HTTP decodes before).
func CleanName(name string) (string, error) {
	if len(name) > maxName {
		return "", fmt.Errorf("a %d-byte file name: %w", len(name), ErrRefused)
	}
	rel := strings.TrimPrefix(name, "/")
	if rel == "" || strings.ContainsAny(rel, "\x00\\") || strings.HasPrefix(rel, "/") {
		return "", fmt.Errorf("file name %q: %w", name, ErrRefused)
	}
	for _, e := range strings.Split(rel, "/") {
		if e == ".." || e == "." || e == "" {
			return "", fmt.Errorf("file name %q has a %q element: %w", name, e, ErrRefused)
		}
	}
	return rel, nil
}
