// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/repo"
)

type forgetOptions struct {
	repoOptions
	Machine string
	Policy  repo.Policy
	IDs     []string
	DryRun  bool
}

func newForgetCommand(o OS) *cobra.Command {
	var opt forgetOptions
	cmd := &cobra.Command{
		Use:   "forget --repo REPO (--keep-last N | --keep-daily N | --keep-weekly N | --keep-monthly N | --id ID) [flags]",
		Short: "drop snapshots by a retention policy (chunks stay until prune)",
		Long: "Drop the snapshots a retention policy does not keep, per machine, or the ones\n" +
			"named with --id. The chunks they used stay until 'rewind prune'.",
		Example: "  rewind forget --repo smb://rewind@nas.local/backup/shop --keep-weekly 8 --keep-monthly 3\n" +
			"  rewind forget --repo /mnt/usb/rewind --machine office-pc --keep-last 2 --dry-run",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opt.Policy.Empty() && len(opt.IDs) == 0 {
				return fmt.Errorf("say what to keep (--keep-last, --keep-daily, --keep-weekly, --keep-monthly) or what to forget (--id): %w", ErrUsage)
			}
			return runForget(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "only the machine `NAME` (default: every machine, each on its own)")
	fs.IntVar(&opt.Policy.Last, "keep-last", 0, "keep the newest `N` snapshots")
	fs.IntVar(&opt.Policy.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last `N` days that have one")
	fs.IntVar(&opt.Policy.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last `N` weeks that have one")
	fs.IntVar(&opt.Policy.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last `N` months that have one")
	fs.Func("id", "forget the snapshot `ID` (an id or its first digits); may be repeated", func(s string) error {
		opt.IDs = append(opt.IDs, s)
		return nil
	})
	fs.BoolVar(&opt.DryRun, "dry-run", false, "only say what would be forgotten")
	return cmd
}

func runForget(ctx context.Context, opt forgetOptions, o OS) error {
	r, err := openRepo(ctx, opt.repoOptions, o, nil)
	if err != nil {
		return err
	}
	defer closeRepo(r)
	lock, err := r.Lock(ctx, false, "forget", opt.Machine, 0, repo.Locker{})
	if err != nil {
		return err
	}
	defer lock.Unlock(context.WithoutCancel(ctx))

	verb := "forgot"
	if opt.DryRun {
		verb = "would forget"
	}
	n := 0
	line := func(what string, id repo.ID, s *repo.Snapshot) {
		if s == nil {
			fmt.Fprintf(o.Stdout, "%-7s %s  (damaged snapshot)\n", what, repo.ShortID(id))
			return
		}
		fmt.Fprintf(o.Stdout, "%-7s %s  %s  %s  %s\n", what, repo.ShortID(id), s.Time.Local().Format("2006-01-02 15:04"), s.Machine, s.Kind)
	}
	for _, ref := range opt.IDs {
		id, s, err := findByID(ctx, r, ref)
		if err != nil {
			return err
		}
		if !opt.DryRun {
			if err := r.RemoveSnapshotID(ctx, id); err != nil {
				return err
			}
		}
		line("forget", id, s)
		n++
	}
	if !opt.Policy.Empty() {
		res, err := r.Forget(ctx, opt.Machine, opt.Policy, opt.DryRun)
		if err != nil {
			return err
		}
		for _, s := range res.Keep {
			line("keep", s.ID(), s)
		}
		for _, s := range res.Remove {
			line("forget", s.ID(), s)
		}
		n += len(res.Remove)
	}
	fmt.Fprintf(o.Stdout, "%s %d snapshots; run 'rewind prune' to free their space\n", verb, n)
	return nil
}

// findByID finds a snapshot of any machine by id or id prefix. A damaged
// snapshot comes back as its id and a nil *Snapshot, so that it can still
// be forgotten.
func findByID(ctx context.Context, r *repo.Repository, ref string) (repo.ID, *repo.Snapshot, error) {
	if len(ref) < 4 {
		return repo.ID{}, nil, fmt.Errorf("snapshot id %q is too short: give at least 4 hex digits", ref)
	}
	ids, err := r.SnapshotIDs(ctx, nil)
	if err != nil {
		return repo.ID{}, nil, err
	}
	var match []repo.ID
	for _, id := range ids {
		if strings.HasPrefix(id.String(), strings.ToLower(ref)) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return repo.ID{}, nil, fmt.Errorf("no snapshot %q in %s", ref, r.Location())
	case 1:
	default:
		return repo.ID{}, nil, fmt.Errorf("snapshot id %q matches %d snapshots: give more digits", ref, len(match))
	}
	s, err := r.LoadSnapshot(ctx, match[0])
	if err != nil {
		return match[0], nil, nil
	}
	return match[0], s, nil
}
