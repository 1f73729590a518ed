// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/repo"
)

type pruneOptions struct {
	repoOptions
	DryRun bool
	Wait   time.Duration
}

func cmdPrune(ctx context.Context, args []string, o OS) error {
	var opt pruneOptions
	fs := newFlags("prune", o)
	opt.register(fs)
	fs.BoolVar(&opt.DryRun, "dry-run", false, "only say what would be removed")
	fs.DurationVar(&opt.Wait, "wait", 0, "wait this long for running captures and restores to finish (e.g. 2h)")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	return runPrune(ctx, opt, o)
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
