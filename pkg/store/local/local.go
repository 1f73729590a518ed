// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package local keeps a repository in a folder: on a local disk, a USB disk,
// or a share the operating system has mounted.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rewind-backup/rewind/pkg/store"
)

// Store is a store.Store in a local folder.
type Store struct {
	root string
}

var _ store.Store = (*Store)(nil)

// Open returns a Store rooted at dir, which must exist and be a folder.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("repository folder %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("repository folder %s: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, store.Permanent(fmt.Errorf("repository %s is not a folder", abs))
	}
	return &Store{root: abs}, nil
}

// Location returns the folder's absolute path.
func (s *Store) Location() string { return s.root }

func (s *Store) path(name string) (string, error) {
	if err := store.ValidName(name); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(name)), nil
}

// Stat implements store.Store.
func (s *Store) Stat(ctx context.Context, name string) (store.Info, error) {
	p, err := s.path(name)
	if err != nil {
		return store.Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return store.Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return store.Info{}, store.Permanent(fmt.Errorf("%s is not a regular file", p))
	}
	return store.Info{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// ReadFile implements store.Store.
func (s *Store) ReadFile(ctx context.Context, name string) ([]byte, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// ReadAt implements store.Store.
func (s *Store) ReadAt(ctx context.Context, name string, b []byte, off int64) (int, error) {
	p, err := s.path(name)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.ReadAt(b, off)
}

// Save implements store.Store: a temporary file in the same folder, written,
// fsynced, renamed into place, and the folder fsynced.
func (s *Store) Save(ctx context.Context, name string, data []byte) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, store.TempPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			f, err = os.CreateTemp(dir, store.TempPrefix+"*")
		}
	}
	if err != nil {
		return fmt.Errorf("saving %s: %w", p, err)
	}
	tmp := f.Name()
	err = writeSync(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("saving %s: %w", p, err)
	}
	return syncDir(dir)
}

func writeSync(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// syncDir makes a rename durable. Filesystems that cannot sync a directory
// (some FAT and network mounts) say EINVAL; their renames are as durable as
// they get.
func syncDir(dir string) error {
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

// List implements store.Store.
func (s *Store) List(ctx context.Context, dir string, fn func(store.Info) error) error {
	p := s.root
	if dir != "" {
		var err error
		if p, err = s.path(dir); err != nil {
			return err
		}
	}
	d, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := d.ReadDir(1024)
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing
			}
			if err != nil {
				return err
			}
			if err := fn(store.Info{Name: e.Name(), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Remove implements store.Store.
func (s *Store) Remove(ctx context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	return os.Remove(p)
}

// Close implements store.Store.
func (s *Store) Close() error { return nil }
