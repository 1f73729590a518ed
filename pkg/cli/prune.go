// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/repo"
)

type pruneOptions struct {
	repoOptions
	DryRun bool
	Wait   time.Duration
}

func newPruneCommand(o OS) *cobra.Command {
	var opt pruneOptions
	cmd := &cobra.Command{
		Use:   "prune --repo REPO [flags]",
		Short: "remove the chunks no snapshot needs",
		Long: "Remove the chunks no snapshot needs any more. It takes the repository's exclusive\n" +
			"lock, so it never removes a chunk a running capture relies on; it refuses while\n" +
			"captures and restores run, or with --wait waits for them.",
		Example: "  rewind prune --repo smb://rewind@nas.local/backup/shop --wait 2h",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrune(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.BoolVar(&opt.DryRun, "dry-run", false, "only say what would be removed")
	fs.DurationVar(&opt.Wait, "wait", 0, "wait up to `DURATION` for running captures and restores to finish (e.g. 2h)")
	return cmd
}

func runPrune(ctx context.Context, opt pruneOptions, o OS) error {
	r, pr, done, err := openWithProgress(ctx, opt.repoOptions, o, false)
	if err != nil {
		return err
	}
	defer done()
	res, err := r.Prune(ctx, repo.PruneOptions{DryRun: opt.DryRun, Wait: opt.Wait, Progress: pr.t})
	pr.Stop()
	if err != nil {
		return err
	}
	verb := "removed"
	if opt.DryRun {
		verb = "would remove"
	}
	fmt.Fprintf(o.Stdout, "%d snapshots need %d chunks (%s); %s %d unused chunks (%s), %d leftover temporary files, %d stale locks\n",
		res.Snapshots, res.KeptChunks, human.Bytes(res.KeptBytes), verb, res.Removed, human.Bytes(res.RemovedBytes), res.Temps, res.StaleLocks)
	return nil
}
