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

	"github.com/rewind-backup/rewind/pkg/internal/fsync"
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

// ErrNotMounted marks a repository folder that Create refused to make
// because the mount point it would go in holds no mounted disk.
var ErrNotMounted = errors.New("no disk mounted")

// mountRoots are where disks are mounted by hand (/mnt) or by the desktop
// (/media, /run/media). An empty folder there that is not a mount point is
// a disk that is not mounted.
var mountRoots = []string{"/mnt", "/media", "/run/media"}

// Create makes the folder dir, with any missing parents, for a new
// repository, as restic init does, and returns a Store rooted at it. An
// existing folder is used as it is.
//
// It refuses, with ErrNotMounted, to create folders in an empty folder
// under /mnt, /media or /run/media that is not a mount point: that is a
// USB disk or a NAS that is not mounted, and the repository would fill the
// machine's own disk (in the boot environment, its memory) instead. A
// repository really meant for such a place is made by creating its folder
// first.
func Create(dir string) (*Store, error) {
	return create(dir, mountRoots)
}

func create(dir string, roots []string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("repository folder %s: %w", dir, err)
	}
	// The nearest folder that exists; the loop ends at the root, which
	// exists, or at the first error that is not "missing".
	base := abs
	for {
		_, err := os.Stat(base)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || filepath.Dir(base) == base {
			break
		}
		base = filepath.Dir(base)
	}
	if base == abs {
		return Open(abs)
	}
	if err := notMounted(base, roots); err != nil {
		return nil, fmt.Errorf("not creating the repository folder %s: %w", abs, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating the repository folder %s: %w", abs, err)
	}
	return Open(abs)
}

// notMounted returns an ErrNotMounted error when dir is an empty folder in
// one of roots (or one of them) and not a mount point.
func notMounted(dir string, roots []string) error {
	under := false
	for _, r := range roots {
		if rel, err := filepath.Rel(r, dir); err == nil && filepath.IsLocal(rel) {
			under = true
		}
	}
	if !under {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) > 0 {
		return nil // not empty, or not a folder: Open or MkdirAll will say
	}
	if mountPoint(dir) {
		return nil // a disk freshly formatted: empty, but mounted
	}
	return fmt.Errorf("%s is an empty folder, not a mounted disk: mount the disk (or the NAS share) there first; "+
		"to keep the repository on this machine's own disk, create the folder yourself: %w", dir, ErrNotMounted)
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
	return fsync.Dir(dir)
}

func writeSync(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
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
