// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/repo"
)

type checkOptions struct {
	repoOptions
	ReadData bool
	JSON     bool
}

func newCheckCommand(o OS) *cobra.Command {
	var opt checkOptions
	cmd := &cobra.Command{
		Use:   "check --repo REPO [flags]",
		Short: "verify a repository (--read-data: every chunk's content too)",
		Long: "Check that the repository is whole: every snapshot readable and every chunk it\n" +
			"needs present. --read-data also reads every chunk and checks its content. Exit\n" +
			"code 3 when something is broken.",
		Example: "  rewind check --repo /mnt/usb/rewind --read-data",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.BoolVar(&opt.ReadData, "read-data", false, "also read every chunk and check its content against its id")
	fs.BoolVar(&opt.JSON, "json", false, "progress as JSON lines")
	return cmd
}

func runCheck(ctx context.Context, opt checkOptions, o OS) error {
	r, pr, done, err := openWithProgress(ctx, opt.repoOptions, o, opt.JSON)
	if err != nil {
		return err
	}
	defer done()
	// A shared lock keeps prune from removing chunks while they are read.
	lock, err := r.Lock(ctx, false, "check", "", 0, repo.Locker{})
	if err != nil {
		return err
	}
	defer lock.Unlock(context.WithoutCancel(ctx))
	res, err := r.Check(ctx, repo.CheckOptions{ReadData: opt.ReadData, Progress: pr.t})
	pr.Stop()
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(o.Stdout, "warning: %s\n", w)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(o.Stdout, "error: %s\n", p)
	}
	what := "structure checked"
	if opt.ReadData {
		what = fmt.Sprintf("structure and %d chunks' content checked", res.Read)
	}
	fmt.Fprintf(o.Stdout, "%s: %d snapshots, %d chunks (%s stored); %s\n", r.Location(), res.Snapshots, res.Chunks, human.Bytes(res.ChunkBytes), what)
	if len(res.Problems) > 0 {
		return fmt.Errorf("the repository has %d problems (listed above): %w", len(res.Problems), ErrProblemsFound)
	}
	fmt.Fprintln(o.Stdout, "no problems found")
	return nil
}
