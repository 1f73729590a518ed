// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store"
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

// spec turns the options into a job.Repo: the password comes from
// --password-file, else the file $REWIND_PASSWORD_FILE names, else a prompt
// on the terminal.
func (r repoOptions) spec(o OS) job.Repo {
	path := r.PasswordFile
	if path == "" {
		path = o.getenv(passwordEnv)
	}
	return job.Repo{
		URL: r.Repo, PasswordFile: path, Conns: r.Conns, RequireEncryption: r.RequireEncryption,
		Password: func(where string) (string, error) { return promptPassword(o, where) },
		Warn:     func(msg string) { fmt.Fprintf(o.Stderr, "rewind: warning: %s\n", msg) },
	}
}

// openStore opens the store the options name (for init). SMB stores come
// wrapped in retries, each reported to rep (nil: not reported).
func openStore(ctx context.Context, opt repoOptions, o OS, rep progress.Reporter) (store.Store, error) {
	s, err := job.OpenStore(ctx, opt.spec(o), rep)
	if errors.Is(err, job.ErrNoRepo) {
		return nil, fmt.Errorf("no repository given: use --repo FOLDER or --repo smb://user@nas/share: %w", ErrUsage)
	}
	return s, err
}

// openRepo opens the repository the options name.
func openRepo(ctx context.Context, opt repoOptions, o OS, rep progress.Reporter) (*repo.Repository, error) {
	r, err := job.Open(ctx, opt.spec(o), rep)
	if errors.Is(err, job.ErrNoRepo) {
		return nil, fmt.Errorf("no repository given: use --repo FOLDER or --repo smb://user@nas/share: %w", ErrUsage)
	}
	return r, err
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
	r, err = openRepo(ctx, opt, o, pr.t)
	if err != nil {
		pr.Stop()
		return nil, nil, nil, err
	}
	return r, pr, func() { pr.Stop(); closeRepo(r) }, nil
}

// promptPassword asks on the controlling terminal (on Windows, the
// console), without echo, when rewind runs interactively (its standard
// input is a terminal).
func promptPassword(o OS, where string) (string, error) {
	var in, out *os.File
	var closeConsole func()
	var err error
	if f, ok := o.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		in, out, closeConsole, err = openConsole()
	} else {
		err = errors.New("not interactive")
	}
	if err != nil {
		return "", fmt.Errorf("no password for %s: give --password-file FILE or set %s=FILE (there is no terminal to ask on)", where, passwordEnv)
	}
	defer closeConsole()
	fmt.Fprintf(out, "Password for %s: ", where)
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(out)
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
func closeRepo(r *repo.Repository) { job.CloseRepo(r) }
