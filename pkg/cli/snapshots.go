// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"encoding/json"
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

// snapshotJSON is what --json prints per snapshot.
type snapshotJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Machine   string    `json:"machine"`
	Time      time.Time `json:"time"`
	Host      string    `json:"host,omitempty"`
	Note      string    `json:"note,omitempty"`
	Disks     []string  `json:"disks,omitempty"`
	UsedBytes int64     `json:"used_bytes,omitempty"`
}

func runSnapshots(ctx context.Context, opt snapshotsOptions, o OS) error {
	r, err := openRepo(ctx, opt.repoOptions, o, nil)
	if err != nil {
		return err
	}
	defer closeRepo(r)
	var bad []string
	snaps, err := r.Snapshots(ctx, func(id repo.ID, err error) {
		bad = append(bad, oneLine(err.Error()))
	})
	if err != nil {
		return err
	}
	var out []snapshotJSON
	for _, s := range snaps {
		if opt.Machine != "" && s.Machine != opt.Machine {
			continue
		}
		j := snapshotJSON{ID: s.ID().String(), Kind: s.Kind, Machine: s.Machine, Time: s.Time, Host: s.Host, Note: s.Note}
		if s.Image != nil {
			for _, d := range s.Image.Disks {
				j.Disks = append(j.Disks, fmt.Sprintf("%s (%s)", d.Name, human.Bytes(d.Size)))
			}
			j.UsedBytes = s.Image.UsedBytes()
		}
		out = append(out, j)
	}
	for _, b := range bad {
		fmt.Fprintf(o.Stderr, "rewind: %s (run 'rewind check')\n", b)
	}
	if opt.JSON {
		if out == nil {
			out = []snapshotJSON{}
		}
		enc := json.NewEncoder(o.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		if opt.Machine != "" {
			fmt.Fprintf(o.Stdout, "no snapshots of %s in %s\n", opt.Machine, r.Location())
		} else {
			fmt.Fprintf(o.Stdout, "no snapshots in %s\n", r.Location())
		}
		return nil
	}
	tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tMACHINE\tKIND\tUSED\tDISKS\tNOTE")
	for _, s := range out {
		used := ""
		if s.UsedBytes > 0 {
			used = human.Bytes(s.UsedBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID[:8], s.Time.Local().Format("2006-01-02 15:04"), s.Machine, s.Kind, used, strings.Join(s.Disks, ", "), s.Note)
	}
	return tw.Flush()
}
