// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
	"github.com/rewind-backup/rewind/pkg/store/retry"
	"github.com/rewind-backup/rewind/pkg/store/smb"
)

// ErrNoRepo is returned when no repository was named.
var ErrNoRepo = errors.New("no repository given")

// Repo names a repository and how to log in to it.
type Repo struct {
	// URL is a folder, or smb://[user@]host[:port]/share[/path].
	URL string
	// PasswordFile holds the SMB password ("": ask Password).
	PasswordFile string
	// Password returns the SMB password for where (the URL without
	// secrets) when the URL names a user and there is no PasswordFile: the
	// CLI's prompt, the wizard's masked field.
	Password func(where string) (string, error)
	// Conns is how many SMB connections to keep open (0: 2).
	Conns             int
	RequireEncryption bool
	// Warn, if set, receives warnings about the password file (readable by
	// others).
	Warn func(string)
}

// OpenStore opens the store spec names. SMB stores come wrapped in retries,
// each reported to rep as a Retry note.
func OpenStore(ctx context.Context, spec Repo, rep progress.Reporter) (store.Store, error) {
	if spec.URL == "" {
		return nil, ErrNoRepo
	}
	if rep == nil {
		rep = progress.Discard
	}
	if !strings.Contains(spec.URL, "://") {
		return local.Open(spec.URL)
	}
	cfg, err := smb.ParseURL(spec.URL)
	if err != nil {
		return nil, err
	}
	cfg.Conns = spec.Conns
	if cfg.Conns <= 0 {
		cfg.Conns = 2
	}
	cfg.RequireEncryption = spec.RequireEncryption
	if cfg.User != "" {
		switch {
		case spec.PasswordFile != "":
			pw, warn, err := ReadPasswordFile(spec.PasswordFile)
			if err != nil {
				return nil, err
			}
			if warn != "" && spec.Warn != nil {
				spec.Warn(warn)
			}
			cfg.Password = pw
		case spec.Password != nil:
			if cfg.Password, err = spec.Password(cfg.String()); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("no password for %s: give a password file", cfg.String())
		}
	}
	s, err := smb.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return retry.New(s, retry.Options{Notify: func(op, name string, err error, wait time.Duration) {
		rep.Note(progress.Retry, fmt.Sprintf("%s %s failed (%s); trying again in %s", op, name, OneLine(err.Error()), wait.Round(100*time.Millisecond)))
	}}), nil
}

// Open opens the repository spec names; Close it with CloseRepo.
func Open(ctx context.Context, spec Repo, rep progress.Reporter) (*repo.Repository, error) {
	s, err := OpenStore(ctx, spec, rep)
	if err != nil {
		return nil, err
	}
	r, err := repo.Open(ctx, s)
	if err != nil {
		s.Close()
		return nil, err
	}
	return r, nil
}

// CloseRepo closes the repository's store, ignoring errors: the work is
// done or failed already.
func CloseRepo(r *repo.Repository) {
	r.Store().Close()
}

// maxPasswordFile is the largest password file read: a password is a line,
// and a bigger file is the wrong file.
const maxPasswordFile = 4 << 10

// ReadPasswordFile reads a password from the file at path, without the
// line end. Like ssh with a key, it returns a warning when the file may be
// read by group or others.
func ReadPasswordFile(path string) (pw, warning string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("reading the password file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", fmt.Errorf("reading the password file: %w", err)
	}
	// A pipe (--password-file <(pass show nas)) has no size nor a mode
	// worth a warning; the read below is bounded all the same.
	regular := fi.Mode().IsRegular()
	if regular && fi.Size() > maxPasswordFile {
		return "", "", fmt.Errorf("the password file %s holds %d bytes, more than a password (at most %d): is it the right file?", path, fi.Size(), maxPasswordFile)
	}
	if perm := fi.Mode().Perm(); regular && perm&0o077 != 0 && runtime.GOOS != "windows" {
		warning = fmt.Sprintf("the password file %s may be read by other users (mode %04o); make it private: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", "", fmt.Errorf("reading the password file: %w", err)
	}
	if len(b) > maxPasswordFile {
		return "", "", fmt.Errorf("the password file %s holds more than %d bytes, more than a password: is it the right file?", path, maxPasswordFile)
	}
	pw = strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", "", fmt.Errorf("the password file %s is empty", path)
	}
	return pw, warning, nil
}

// OneLine joins a multi-line message into one line.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
