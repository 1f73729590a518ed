// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package retry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
	"github.com/rewind-backup/rewind/pkg/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := local.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return New(s, Options{})
	})
}

// flaky fails the first n calls to Save with err.
type flaky struct {
	store.Store
	n     atomic.Int32
	err   error
	calls atomic.Int32
}

func (f *flaky) Save(ctx context.Context, name string, data []byte) error {
	f.calls.Add(1)
	if f.n.Add(-1) >= 0 {
		return f.err
	}
	return f.Store.Save(ctx, name, data)
}

func TestRetry(t *testing.T) {
	transient := errors.New("connection reset by peer")
	badPassword := store.Permanent(errors.New("bad password"))
	fast := Options{Initial: time.Millisecond, Max: 2 * time.Millisecond, MaxElapsed: time.Second}
	for _, tc := range []struct {
		name      string
		failures  int32
		err       error
		opt       Options
		wantCalls int32 // 0: more than one, each failure but the last noted
		wantErr   error
	}{
		{"transient then ok", 3, transient, fast, 4, nil},
		{"permanent", 3, badPassword, fast, 1, store.ErrPermanent},
		{"not exist", 3, fmt.Errorf("x: %w", fs.ErrNotExist), fast, 1, fs.ErrNotExist},
		{"gives up", 1 << 20, transient, Options{Initial: 10 * time.Millisecond, MaxElapsed: 50 * time.Millisecond}, 0, transient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := local.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			f := &flaky{Store: l, err: tc.err}
			f.n.Store(tc.failures)
			var notes atomic.Int32
			tc.opt.Notify = func(op, name string, err error, wait time.Duration) { notes.Add(1) }
			err = New(f, tc.opt).Save(context.Background(), "x", []byte("data"))
			if tc.wantErr == nil && err != nil {
				t.Fatalf("Save = %v, want success", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Save = %v, want it to wrap %v", err, tc.wantErr)
			}
			switch calls := f.calls.Load(); {
			case tc.wantCalls != 0 && calls != tc.wantCalls:
				t.Errorf("Save made %d calls, want %d", calls, tc.wantCalls)
			case tc.wantCalls == 0 && (calls < 2 || notes.Load() != calls-1):
				t.Errorf("Save made %d calls with %d noted, want several, each failure but the last noted", calls, notes.Load())
			}
			if tc.wantErr == nil && notes.Load() != tc.failures {
				t.Errorf("Notify called %d times, want %d", notes.Load(), tc.failures)
			}
		})
	}
}

func TestRetryStopsOnCancel(t *testing.T) {
	l, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{Store: l, err: errors.New("timeout")}
	f.n.Store(1 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = New(f, Options{Initial: 10 * time.Millisecond}).Save(ctx, "x", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Save with a cancelled context = %v, want context.DeadlineExceeded", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("Save took %s after its context ended", time.Since(start))
	}
}
