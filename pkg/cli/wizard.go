// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/tui"
)

type wizardOptions struct {
	repoOptions
	Machine   string
	TestDisks []string
}

func newWizardCommand(o OS) *cobra.Command {
	var opt wizardOptions
	cmd := &cobra.Command{
		Use:   "wizard [--repo REPO] [--password-file FILE] [--machine NAME]",
		Short: "restore or capture this machine step by step, in a terminal",
		Long: "The restore wizard: it shows this machine, connects to the repository, lists its\n" +
			"machines and images, maps the image's disks to this machine's, asks for each target's\n" +
			"name to be typed, restores with progress and verification, and saves a report. It\n" +
			"also captures. The boot environment starts it on its console; on a workstation it\n" +
			"runs in the terminal it is started from. docs/WIZARD.md shows every screen.",
		Example: "  rewind wizard --repo smb://rewind@nas.local/backup/shop",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWizard(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opt.Repo, "repo", "", "prefill the repository `REPO`")
	fs.StringVar(&opt.PasswordFile, "password-file", "", "read the SMB password from `FILE` rather than ask")
	fs.StringVar(&opt.Machine, "machine", "", "prefill the machine `NAME`")
	// Tests and the demo restore onto disk image files.
	fs.StringArrayVar(&opt.TestDisks, "test-disk", nil, "offer the disk image `FILE` as the only disks (tests)")
	fs.MarkHidden("test-disk")
	return cmd
}

func runWizard(ctx context.Context, opt wizardOptions, o OS) error {
	in, ok := o.Stdin.(*os.File)
	if !ok || !isTerminal(in) {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("the wizard needs a terminal, and there is none (%v): use rewind restore and rewind capture in scripts", err)
		}
		defer tty.Close()
		in = tty
	}
	out := o.Stdout
	if !isTerminal(out) {
		out = in
	}
	pwFile := opt.PasswordFile
	if pwFile == "" {
		pwFile = o.getenv(passwordEnv)
	}
	spec := opt.spec(o)
	spec.PasswordFile = pwFile
	// A workstation's wizard offers only Quit: how it was left does not
	// matter here.
	_, err := tui.Run(ctx, in, out, tui.Options{
		Version: Version, Repo: spec, Machine: opt.Machine, TestDisks: opt.TestDisks,
		Color: o.getenv("NO_COLOR") == "" && o.getenv("TERM") != "dumb",
	})
	return err
}
