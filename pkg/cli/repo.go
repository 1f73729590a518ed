// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
	"github.com/rewind-backup/rewind/pkg/store/retry"
	"github.com/rewind-backup/rewind/pkg/store/smb"
)

// passwordEnv names a file holding the SMB password. The variable holds a
// path, never the password itself.
const passwordEnv = "REWIND_PASSWORD_FILE"

// repoOptions are the flags every verb that opens a repository has.
type repoOptions struct {
	Repo              string
	PasswordFile      string
	Conns             int
	RequireEncryption bool
}

func (r *repoOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&r.Repo, "repo", "", "the repository `REPO`: a folder, or smb://[user@]host[:port]/share[/path]")
	fs.StringVar(&r.PasswordFile, "password-file", "", "read the SMB password from `FILE` (else $"+passwordEnv+", else a prompt)")
	fs.IntVar(&r.Conns, "conns", 2, "keep `N` SMB connections open")
	fs.BoolVar(&r.RequireEncryption, "require-encryption", false, "refuse an SMB share whose traffic is not encrypted")
}

// openStore opens the store the options name. SMB stores come wrapped in
// retries, with each retry reported through note.
func openStore(ctx context.Context, opt repoOptions, o OS, note func(string)) (store.Store, error) {
	if opt.Repo == "" {
		return nil, fmt.Errorf("no repository given: use --repo FOLDER or --repo smb://user@nas/share: %w", ErrUsage)
	}
	if strings.Contains(opt.Repo, "://") {
		cfg, err := smb.ParseURL(opt.Repo)
		if err != nil {
			return nil, err
		}
		cfg.Conns = opt.Conns
		cfg.RequireEncryption = opt.RequireEncryption
		if cfg.User != "" {
			if cfg.Password, err = readPassword(opt, o, cfg.String()); err != nil {
				return nil, err
			}
		}
		s, err := smb.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return retry.New(s, retry.Options{Notify: func(op, name string, err error, wait time.Duration) {
			if note != nil {
				note(fmt.Sprintf("%s %s failed (%s); trying again in %s", op, name, oneLine(err.Error()), wait.Round(100*time.Millisecond)))
			}
		}}), nil
	}
	return local.Open(opt.Repo)
}

// openRepo opens the repository the options name.
func openRepo(ctx context.Context, opt repoOptions, o OS, note func(string)) (*repo.Repository, error) {
	s, err := openStore(ctx, opt, o, note)
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

// openWithProgress starts a progress printer (JSON lines when json is set)
// and opens the repository, with network retries reported as notes. done
// stops the printer and closes the repository; it may be called more than
// once, and the printer may be stopped earlier with pr.Stop.
func openWithProgress(ctx context.Context, opt repoOptions, o OS, json bool) (r *repo.Repository, pr *printer, done func(), err error) {
	mode := progressAuto
	if json {
		mode = progressJSON
	}
	pr = startProgress(o, mode)
	r, err = openRepo(ctx, opt, o, pr.t.Note)
	if err != nil {
		pr.Stop()
		return nil, nil, nil, err
	}
	return r, pr, func() { pr.Stop(); closeRepo(r) }, nil
}

// readPassword finds the SMB password: --password-file, then the file
// named by REWIND_PASSWORD_FILE, then a prompt on the terminal. Never a
// flag value or an environment variable's value.
func readPassword(opt repoOptions, o OS, where string) (string, error) {
	path := opt.PasswordFile
	if path == "" {
		path = o.getenv(passwordEnv)
	}
	if path != "" {
		return readPasswordFile(path, o)
	}
	return promptPassword(o, where)
}

// maxPasswordFile is the largest password file read: a password is a line,
// and a bigger file is the wrong file.
const maxPasswordFile = 4 << 10

// readPasswordFile reads a password from the file at path, without the line
// end. Like ssh with a key, it warns on o.Stderr when the
// file may be read by group or others.
func readPasswordFile(path string, o OS) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading the password file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("reading the password file: %w", err)
	}
	// A pipe (--password-file <(pass show nas)) has no size nor a mode
	// worth a warning; the read below is bounded all the same.
	regular := fi.Mode().IsRegular()
	if regular && fi.Size() > maxPasswordFile {
		return "", fmt.Errorf("the password file %s holds %d bytes, more than a password (at most %d): is it the right file?", path, fi.Size(), maxPasswordFile)
	}
	if perm := fi.Mode().Perm(); regular && perm&0o077 != 0 && runtime.GOOS != "windows" {
		fmt.Fprintf(o.Stderr, "rewind: warning: the password file %s may be read by other users (mode %04o); make it private: chmod 600 %s\n", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("reading the password file: %w", err)
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("the password file %s holds more than %d bytes, more than a password: is it the right file?", path, maxPasswordFile)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("the password file %s is empty", path)
	}
	return pw, nil
}

// promptPassword asks on the controlling terminal, without echo, when
// rewind runs interactively (its standard input is a terminal).
func promptPassword(o OS, where string) (string, error) {
	var tty *os.File
	var err error
	if f, ok := o.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty, err = os.OpenFile("/dev/tty", os.O_RDWR, 0)
	} else {
		err = errors.New("not interactive")
	}
	if err != nil {
		return "", fmt.Errorf("no password for %s: give --password-file FILE or set %s=FILE (there is no terminal to ask on)", where, passwordEnv)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "Password for %s: ", where)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if len(b) == 0 {
		return "", errors.New("no password given")
	}
	return string(b), nil
}

// closeRepo closes the repository's store, ignoring errors: the work is done
// or failed already.
func closeRepo(r *repo.Repository) {
	r.Store().Close()
}
