// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package cli implements rewind's subcommands: one verb per file, each with an
// options struct and a run function that takes a context, its options and
// the process's streams, so that tests call it with buffers. The command
// line follows the conventions of restic, kopia and rclone (cobra and
// pflag): --flag, --help, help VERB, --version, shell completion.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// ErrUsage marks errors in how rewind was called: exit code 2.
var ErrUsage = errors.New("usage")

// ErrUnknownCommand marks a command line whose verb this build of rewind
// does not have. Such errors are ErrUsage errors too.
var ErrUnknownCommand = errors.New("unknown command")

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

// Run runs the rewind command line given without the program name. Help
// (--help, -h, help VERB) and --version print to o.Stdout and return nil.
func Run(ctx context.Context, args []string, o OS) error {
	if args == nil {
		args = []string{} // cobra reads os.Args for nil
	}
	root := newRoot(o)
	root.SetArgs(args)
	root.SetIn(o.Stdin)
	root.SetOut(o.Stdout)
	root.SetErr(o.Stderr)
	return root.ExecuteContext(ctx)
}

// newRoot builds the command tree afresh for one run: commands hold the
// options their flags fill in, so a tree is never reused.
func newRoot(o OS) *cobra.Command {
	root := &cobra.Command{
		Use:   "rewind COMMAND",
		Short: "bare-metal backup and restore",
		Long: "rewind " + Version + ": bare-metal backup and restore. It images whole disks into a\n" +
			"repository on a NAS (SMB) or a local folder, and puts them back.",
		Example: "  rewind init --repo smb://rewind@nas.local/backup/shop\n" +
			"  rewind capture --repo smb://rewind@nas.local/backup/shop --machine office-pc /dev/sda\n" +
			"  rewind restore --help",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Completion goes by the completion command of completion.go.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.AddCommand(
		newInitCommand(o),
		newCaptureCommand(o),
		newRestoreCommand(o),
		newVerifyCommand(o),
		newImagesCommand(o),
		newSnapshotsCommand(o),
		newFilesCommand(o),
		newCheckCommand(o),
		newForgetCommand(o),
		newPruneCommand(o),
		newInspectCommand(o),
		newWizardCommand(o),
		newPXECommand(o),
		newVersionCommand(o),
		newCompletionCommand(root),
	)
	group(root, "no command given")
	root.SetHelpCommand(newHelpCommand())
	setHelp(root)
	return root
}

// group makes cmd a command of subcommands: an unknown word is an
// unknown command, and none at all prints the help and says missing.
func group(cmd *cobra.Command, missing string) {
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(cmd, args[0])
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := cmd.Help(); err != nil {
			return err
		}
		return fmt.Errorf("%s: %w", missing, ErrUsage)
	}
}

// unknownCommand is the error for a verb rewind does not have, with a
// suggestion when one is close.
func unknownCommand(root *cobra.Command, name string) error {
	hint := ""
	if s := root.SuggestionsFor(name); len(s) > 0 {
		hint = fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return fmt.Errorf("%w %q%s; run '%s --help' for the list: %w", ErrUnknownCommand, name, hint, root.CommandPath(), ErrUsage)
}

// flagError turns a flag that could not be parsed into one line that names
// the flag (pflag's message does) and where to look, marked ErrUsage.
func flagError(cmd *cobra.Command, err error) error {
	// rewind nosuch --flag: cobra parses the flags of the root (it found no
	// verb) before it looks at "nosuch". The verb is what is wrong.
	if !cmd.HasParent() && cmd.Flags().NArg() > 0 {
		return unknownCommand(cmd, cmd.Flags().Arg(0))
	}
	prefix := ""
	if cmd.HasParent() {
		prefix = cmd.Name() + ": "
	}
	msg := oneLine(err.Error())
	// -repo, as Go's flag package took it, reads as the shorthands r, e,
	// p, o: say what was meant.
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		name, _, _ := strings.Cut(ne.GetSpecifiedShortnames(), "=")
		if len(name) > 1 && cmd.Flags().Lookup(name) != nil {
			msg = fmt.Sprintf("unknown flag -%s: long flags take two dashes, --%s", name, name)
		}
	}
	return fmt.Errorf("%s%s; run '%s --help' for its flags: %w", prefix, msg, cmd.CommandPath(), ErrUsage)
}

// noArgs is the Args check of the verbs that take only flags.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments besides flags, got %q; run '%s --help': %w", cmd.Name(), args, cmd.CommandPath(), ErrUsage)
	}
	return nil
}

func newVersionCommand(o OS) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "print the version",
		Example: "  rewind version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(o.Stdout, "rewind %s\n", Version)
			return nil
		},
	}
}

// oneLine folds an error into one line for the person at the keyboard.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
