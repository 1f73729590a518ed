// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package smb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/retry"
	"github.com/rewind-backup/rewind/pkg/store/storetest"
)

func config(t *testing.T, srv *sambatest.Server, folder string) Config {
	t.Helper()
	u := srv.URL()
	if folder != "" {
		u += "/" + folder
	}
	cfg, err := ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = srv.Password()
	return cfg
}

func TestConformance(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		// Each subtest gets a folder of its own in the share.
		n++
		folder := fmt.Sprintf("t%d/repo", n)
		os.MkdirAll(filepath.Join(srv.ShareDir, folder), 0o755)
		s, err := Open(context.Background(), config(t, srv, folder))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, srv.Password())
}

func TestOpenErrors(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	ctx := context.Background()

	// A port on loopback that nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()

	for _, tc := range []struct {
		name string
		cfg  func(Config) Config
		want string
	}{
		{"wrong password", func(c Config) Config { c.Password = "not-" + c.Password; return c }, "wrong user name or password"},
		{"unknown user", func(c Config) Config { c.User = "nobody-here"; return c }, "wrong user name or password"},
		{"missing share", func(c Config) Config { c.Share = "nosuchshare"; return c }, `no share named "nosuchshare"`},
		{"unreachable", func(c Config) Config { c.Port = closed; return c }, "cannot reach the NAS at 127.0.0.1:"},
		{"not encrypted", func(c Config) Config { c.RequireEncryption = true; return c }, "does not encrypt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg(config(t, srv, ""))
			s, err := Open(ctx, cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) = nil error, want %q", tc.name, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%s) = %q, want %q in it", tc.name, err, tc.want)
			}
			if !errors.Is(err, store.ErrPermanent) {
				t.Errorf("Open(%s) = %v, want a permanent error", tc.name, err)
			}
			if strings.Contains(err.Error(), cfg.Password) {
				t.Errorf("Open(%s) error shows the password it was given (not printed here)", tc.name)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("Open(%s) error is more than one line: %q", tc.name, err)
			}
		})
	}
	entries, _ := os.ReadDir(srv.ShareDir)
	if len(entries) != 0 {
		t.Errorf("failed opens left %d entries in the share, want none", len(entries))
	}
}

func TestRequireEncryption(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{Encrypt: true})
	cfg := config(t, srv, "")
	cfg.RequireEncryption = true
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(encrypting server, RequireEncryption) = %v", err)
	}
	defer s.Close()
	if err := s.Save(context.Background(), "x", []byte("secret")); err != nil {
		t.Fatalf("Save over an encrypted connection = %v", err)
	}
}

// TestReconnect stops the server under an open Store and starts it again:
// the call during the outage fails, and the next one after it succeeds on a
// new connection.
func TestReconnect(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	ctx := context.Background()
	s, err := Open(ctx, config(t, srv, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(ctx, "a", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFile(ctx, "a"); err == nil {
		t.Fatalf("ReadFile with the server stopped = nil error")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	for i := range len(s.slots) + 1 { // each slot may hold a dead connection once
		_, err = s.ReadFile(ctx, "a")
		if err == nil {
			break
		}
		t.Logf("ReadFile after restart, try %d: %v", i, err)
	}
	if err != nil {
		t.Fatalf("ReadFile after the server came back = %v", err)
	}
}

// TestRetryOverRestart: a NAS that restarts during a call costs a wait, not
// a failure, once the store is wrapped in retry. The server is down when
// Save starts and comes back only once the wrapper has reported a failed
// attempt, so the call succeeds only by retrying.
func TestRetryOverRestart(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	ctx := context.Background()
	raw, err := Open(ctx, config(t, srv, ""))
	if err != nil {
		t.Fatal(err)
	}
	type note struct {
		op, name string
		err      error
	}
	var (
		mu        sync.Mutex
		notes     []note
		restarted = make(chan error, 1)
	)
	s := retry.New(raw, retry.Options{Initial: 50 * time.Millisecond, MaxElapsed: 30 * time.Second,
		Notify: func(op, name string, err error, _ time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			notes = append(notes, note{op, name, err})
			if len(notes) == 1 {
				go func() { restarted <- srv.Restart() }()
			}
		}})
	defer s.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = s.Save(sctx, "during-restart", []byte("x"))
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		t.Fatalf("Save across a server restart = %v, after %d retries reported", err, len(notes))
	}
	if len(notes) == 0 {
		t.Fatalf("Save with the server stopped succeeded without a retry: the server was not down, or the store waited by itself")
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	for i, n := range notes {
		if n.op != "save" || n.name != "during-restart" || n.err == nil || store.IsPermanent(n.err) {
			t.Errorf("retry note %d = %s %s: %v; want a transient failure of save during-restart", i, n.op, n.name, n.err)
		}
	}
	t.Logf("Save retried %d times; first failure: %v", len(notes), notes[0].err)
	got, err := os.ReadFile(filepath.Join(srv.ShareDir, "during-restart"))
	if err != nil || string(got) != "x" {
		t.Errorf("file on the share = %q, %v; want x", got, err)
	}
}
