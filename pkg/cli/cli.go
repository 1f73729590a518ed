// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package cli implements rewind's subcommands: one verb per file, each with an
// options struct and a run function that takes a context, its options and
// the process's streams, so that tests call it with buffers.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// OS is what a command may use of its process. Tests fill it with buffers and
// a fake environment; main fills it from package os.
type OS struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable. Only variables documented in the
	// README are read (REWIND_PASSWORD_FILE); may be nil.
	Getenv func(string) string
}

func (o OS) getenv(key string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(key)
}

// command is one verb.
type command struct {
	summary string
	// run parses args (which do not include the verb) and does the work.
	run func(ctx context.Context, args []string, o OS) error
}

// commands lists the verbs. Each lives in a file of its own name.
var commands = map[string]command{
	"init":      {"create a repository", cmdInit},
	"capture":   {"image whole disks into the repository", cmdCapture},
	"restore":   {"put a disk image back onto disks (asks first, unless --yes)", cmdRestore},
	"verify":    {"check disks against an image", cmdVerify},
	"images":    {"list the machines and their disk images", cmdImages},
	"snapshots": {"list the disk images and file backups in a repository", cmdSnapshots},
	"check":     {"verify a repository (--read-data: every chunk's content too)", cmdCheck},
	"forget":    {"drop snapshots by a retention policy (chunks stay until prune)", cmdForget},
	"prune":     {"remove the chunks no snapshot needs", cmdPrune},
	"version":   {"print the version", cmdVersion},
	"inspect":   {"show a disk's partitions, filesystems and what would be imaged", cmdInspect},
}

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// ErrUsage marks errors in how rewind was called: exit code 2.
var ErrUsage = errors.New("usage")

// ErrProblemsFound marks a completed run that found something broken (check,
// verify): exit code 3, so that scripts can tell it from a failure to run.
var ErrProblemsFound = errors.New("problems found")

// ExitCode maps an error returned by Run to a process exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	case errors.Is(err, ErrProblemsFound):
		return 3
	default:
		return 1
	}
}

// Run runs the rewind command line given without the program name.
func Run(ctx context.Context, args []string, o OS) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(o.Stdout)
		if len(args) == 0 {
			return fmt.Errorf("no command given: %w", ErrUsage)
		}
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q; run 'rewind help' for the list: %w", args[0], ErrUsage)
	}
	return c.run(ctx, args[1:], o)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "rewind %s: bare-metal backup and restore\n\nUsage: rewind COMMAND [flags]\n\nCommands:\n", Version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'rewind COMMAND -h' for a command's flags.\n")
}

// newFlags returns a flag set for a verb that reports errors through its
// return value instead of exiting.
func newFlags(name string, o OS) *flag.FlagSet {
	fs := flag.NewFlagSet("rewind "+name, flag.ContinueOnError)
	fs.SetOutput(o.Stderr)
	return fs
}

// parse parses args and wraps a bad flag in ErrUsage. -h is not an error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%s: %v: %w", fs.Name(), err, ErrUsage)
	}
	return nil
}

// errHelp is returned by parse when -h was given.
var errHelp = errors.New("help shown")

// helpOK turns errHelp into success: -h is not a failure.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func cmdVersion(ctx context.Context, args []string, o OS) error {
	fmt.Fprintf(o.Stdout, "rewind %s\n", Version)
	return nil
}

// oneLine folds an error into one line for the person at the keyboard.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
