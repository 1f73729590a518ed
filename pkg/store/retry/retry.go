// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package retry wraps a store.Store so that transient failures (a dropped
// connection, a NAS that reboots, a timeout) are retried with exponential
// backoff. Backends only classify their errors (store.Permanent); the
// retrying lives here, once.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rewind-backup/rewind/pkg/store"
)

// Options tune the backoff. The zero value means the defaults.
type Options struct {
	// Initial is the first wait (default 250 ms); each wait doubles up to
	// Max (default 10 s).
	Initial, Max time.Duration
	// MaxElapsed bounds the time spent retrying one call (default 5 min, long
	// enough for a NAS to reboot).
	MaxElapsed time.Duration
	// Notify, if set, is called before each wait, with the operation, the
	// file, the error and the wait. It may be called concurrently.
	Notify func(op, name string, err error, wait time.Duration)
}

// Store retries the calls of the store it wraps.
type Store struct {
	s   store.Store
	opt Options
}

var _ store.Store = (*Store)(nil)

// New wraps s.
func New(s store.Store, opt Options) *Store {
	if opt.Initial <= 0 {
		opt.Initial = 250 * time.Millisecond
	}
	if opt.Max <= 0 {
		opt.Max = 10 * time.Second
	}
	if opt.MaxElapsed <= 0 {
		opt.MaxElapsed = 5 * time.Minute
	}
	return &Store{s: s, opt: opt}
}

// Unwrap returns the wrapped store.
func (r *Store) Unwrap() store.Store { return r.s }

func (r *Store) retry(ctx context.Context, op, name string, fn func() error) error {
	start := time.Now()
	wait := r.opt.Initial
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || store.IsPermanent(err) || ctx.Err() != nil {
			return err
		}
		if time.Since(start)+wait > r.opt.MaxElapsed {
			return fmt.Errorf("%s %s: gave up after %d attempts in %s: %w", op, name, attempt, time.Since(start).Round(time.Second), err)
		}
		if r.opt.Notify != nil {
			r.opt.Notify(op, name, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, r.opt.Max)
	}
}

// Location implements store.Store.
func (r *Store) Location() string { return r.s.Location() }

// Stat implements store.Store.
func (r *Store) Stat(ctx context.Context, name string) (fi store.Info, err error) {
	err = r.retry(ctx, "stat", name, func() error {
		fi, err = r.s.Stat(ctx, name)
		return err
	})
	return fi, err
}

// ReadFile implements store.Store.
func (r *Store) ReadFile(ctx context.Context, name string) (data []byte, err error) {
	err = r.retry(ctx, "read", name, func() error {
		data, err = r.s.ReadFile(ctx, name)
		return err
	})
	return data, err
}

// ReadAt implements store.Store. io.EOF is an answer, not a failure.
func (r *Store) ReadAt(ctx context.Context, name string, p []byte, off int64) (n int, err error) {
	var eof error
	err = r.retry(ctx, "read", name, func() error {
		n, err = r.s.ReadAt(ctx, name, p, off)
		if err != nil && n < len(p) && isEOF(err) {
			eof, err = err, nil
		}
		return err
	})
	if err == nil {
		err = eof
	}
	return n, err
}

// Save implements store.Store.
func (r *Store) Save(ctx context.Context, name string, data []byte) error {
	return r.retry(ctx, "save", name, func() error { return r.s.Save(ctx, name, data) })
}

// List implements store.Store. The listing is collected before fn sees any
// of it, so that a retried listing does not call fn twice for a file.
func (r *Store) List(ctx context.Context, dir string, fn func(store.Info) error) error {
	var infos []store.Info
	err := r.retry(ctx, "list", dir, func() error {
		infos = infos[:0]
		return r.s.List(ctx, dir, func(fi store.Info) error {
			infos = append(infos, fi)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, fi := range infos {
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements store.Store.
func (r *Store) Remove(ctx context.Context, name string) error {
	return r.retry(ctx, "remove", name, func() error { return r.s.Remove(ctx, name) })
}

// Close implements store.Store.
func (r *Store) Close() error { return r.s.Close() }

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
