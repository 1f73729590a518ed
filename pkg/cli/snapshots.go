// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/repo"
)

type snapshotsOptions struct {
	repoOptions
	Machine string
	JSON    bool
}

func newSnapshotsCommand(o OS) *cobra.Command {
	var opt snapshotsOptions
	cmd := &cobra.Command{
		Use:     "snapshots --repo REPO [flags]",
		Short:   "list the disk images and file backups in a repository",
		Example: "  rewind snapshots --repo /mnt/usb/rewind",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshots(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "only the snapshots of the machine `NAME`")
	fs.BoolVar(&opt.JSON, "json", false, "print JSON")
	return cmd
}

// snapshotJSON is what --json prints per snapshot. A damaged snapshot has
// what its head says and Damaged, the reason it cannot be used.
type snapshotJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Machine   string    `json:"machine"`
	Time      time.Time `json:"time"`
	Host      string    `json:"host,omitempty"`
	Note      string    `json:"note,omitempty"`
	Disks     []string  `json:"disks,omitempty"`
	Paths     []string  `json:"paths,omitempty"` // of a files snapshot
	UsedBytes int64     `json:"used_bytes,omitempty"`
	Damaged   string    `json:"damaged,omitempty"`
}

// snapshotsResult is the one line of snapshots --json.
type snapshotsResult struct {
	result
	Snapshots []snapshotJSON `json:"snapshots"`
}

func runSnapshots(ctx context.Context, opt snapshotsOptions, o OS) (err error) {
	out := []snapshotJSON{}
	if opt.JSON {
		defer func() { printResult(o.Stdout, &snapshotsResult{Snapshots: out}, err) }()
	}
	r, err := openRepo(ctx, opt.repoOptions, o, nil)
	if err != nil {
		return err
	}
	defer closeRepo(r)
	damaged := 0
	err = r.EachManifest(ctx, func(h *repo.Head) bool {
		return opt.Machine == "" || h.Machine == opt.Machine || !h.Known()
	}, func(h *repo.Head, s *repo.Snapshot, err error) error {
		if err != nil {
			damaged++
			m := h.Machine
			if !h.Known() {
				m = unknownMachine
			}
			out = append(out, snapshotJSON{ID: h.ID.String(), Kind: h.Kind, Machine: m, Time: h.Time, Host: h.Host, Note: h.Note, Damaged: oneLine(err.Error())})
			return nil
		}
		j := snapshotJSON{ID: s.ID().String(), Kind: s.Kind, Machine: s.Machine, Time: s.Time, Host: s.Host, Note: s.Note}
		if s.Image != nil {
			for _, d := range s.Image.Disks {
				j.Disks = append(j.Disks, fmt.Sprintf("%s (%s)", d.Name, human.Bytes(d.Size)))
			}
			j.UsedBytes = s.Image.UsedBytes()
		}
		if s.Files != nil {
			j.Paths = s.Files.Paths
			if s.Files.Stats != nil {
				j.UsedBytes = s.Files.Stats.Bytes
			}
		}
		out = append(out, j)
		return nil
	})
	if err != nil {
		return err
	}
	if !opt.JSON {
		printSnapshots(o, r.Location(), opt.Machine, out)
	}
	if damaged > 0 {
		return fmt.Errorf("%d snapshots are damaged (listed above) and cannot be restored: run 'rewind check' on %s: %w", damaged, r.Location(), ErrProblemsFound)
	}
	return nil
}

func printSnapshots(o OS, location, machine string, out []snapshotJSON) {
	if len(out) == 0 {
		if machine != "" {
			fmt.Fprintf(o.Stdout, "no snapshots of %s in %s\n", machine, location)
		} else {
			fmt.Fprintf(o.Stdout, "no snapshots in %s\n", location)
		}
		return
	}
	tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tMACHINE\tKIND\tUSED\tDISKS/PATHS\tNOTE")
	for _, s := range out {
		if s.Damaged != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\tDAMAGED\t\t%s\t\n", s.ID[:8], when(s.Time), s.Machine, s.Damaged)
			continue
		}
		used := ""
		if s.UsedBytes > 0 {
			used = human.Bytes(s.UsedBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID[:8], s.Time.Local().Format("2006-01-02 15:04"), s.Machine, s.Kind, used, strings.Join(append(s.Disks, s.Paths...), ", "), s.Note)
	}
	tw.Flush()
}
