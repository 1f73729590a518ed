// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package store defines where a repository's files live: a small interface
// that a local folder, an SMB share (and later object storage) implement,
// and that wrappers (retries) decorate. Every implementation passes the
// conformance suite in package storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Info describes one stored file.
type Info struct {
	Name    string // base name inside the directory listed
	Size    int64
	ModTime time.Time
}

// Store holds named files. Names are slash-separated paths relative to the
// store's root ("chunks/ab/ab12..."), made of the characters that
// ValidName accepts. All methods may be called concurrently from many
// goroutines. A method that fails because the file does not exist returns
// an error for which errors.Is(err, fs.ErrNotExist) holds. Errors that
// retrying cannot cure (bad credentials, a missing share, an invalid name)
// wrap ErrPermanent; other errors may be transient, and the retry wrapper
// retries them.
type Store interface {
	// Location names the store for people: a path or an smb:// URL,
	// never with a password.
	Location() string

	// Stat returns the size of a file.
	Stat(ctx context.Context, name string) (Info, error)

	// ReadFile returns the whole content of a file.
	ReadFile(ctx context.Context, name string) ([]byte, error)

	// ReadAt reads len(p) bytes of a file from offset off, with the
	// semantics of io.ReaderAt: fewer bytes come with a non-nil error, io.EOF
	// at the end of the file.
	ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error)

	// Save stores data under name atomically and durably: once Save returns
	// nil the file is on stable storage, and at no time does a reader see a
	// part of it. Missing parent directories are created. An existing file
	// of that name is replaced (the repository only ever saves a name again
	// with the same content, or names that are unique). A failed Save may
	// leave a temporary file whose base name starts with TempPrefix.
	Save(ctx context.Context, name string, data []byte) error

	// List calls fn for each regular file directly inside dir, in no
	// particular order, including temporaries (TempPrefix). A directory that
	// does not exist lists nothing and is not an error. If fn returns an
	// error, List stops and returns it.
	List(ctx context.Context, dir string, fn func(Info) error) error

	// Remove deletes a file.
	Remove(ctx context.Context, name string) error

	// Close releases connections. The Store must not be used afterwards.
	Close() error
}

// TempPrefix starts the base name of every temporary file a Store writes
// before renaming it into place. Names that start with it are never the
// repository's own files; prune removes old ones.
const TempPrefix = ".tmp-"

// ErrPermanent marks errors that retrying will not cure.
var ErrPermanent = errors.New("permanent error")

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds, keeping
// its message as it is.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() []error {
	return []error{e.err, ErrPermanent}
}

// IsPermanent reports whether retrying err is pointless: it is permanent,
// a missing or existing file, or a cancelled context.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrPermanent) ||
		errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, fs.ErrExist) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// ValidName checks that name is a relative slash-separated path of
// portable characters (letters, digits, '-', '_', '.'), with no empty, "."
// or ".." elements: names that mean the same on Linux, Windows and a NAS.
func ValidName(name string) error {
	if name == "" {
		return Permanent(fmt.Errorf("empty file name"))
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return Permanent(fmt.Errorf("invalid file name %q", name))
		}
		for _, r := range el {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
			if !ok {
				return Permanent(fmt.Errorf("invalid character %q in file name %q", r, name))
			}
		}
	}
	return nil
}

// Dir returns the directory part of name ("" for a top-level name).
func Dir(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}
