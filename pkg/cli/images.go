// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/repo"
)

type imagesOptions struct {
	repoOptions
	Machine string
	JSON    bool
}

func newImagesCommand(o OS) *cobra.Command {
	var opt imagesOptions
	cmd := &cobra.Command{
		Use:   "images --repo REPO [flags]",
		Short: "list the machines and their disk images",
		Long: "List the machines in the repository and, for each, its disk images: id, date,\n" +
			"used size, new bytes stored, disks and note.",
		Example: "  rewind images --repo /mnt/usb/rewind --machine office-pc",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImages(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "only the machine `NAME`")
	fs.BoolVar(&opt.JSON, "json", false, "print JSON")
	return cmd
}

// imageJSON is one image in `images --json`.
type imageJSON struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Note      string    `json:"note,omitempty"`
	Disks     []string  `json:"disks"`
	UsedBytes int64     `json:"used_bytes"`
	NewBytes  int64     `json:"new_bytes"`
	Seconds   float64   `json:"seconds,omitempty"`
}

func runImages(ctx context.Context, opt imagesOptions, o OS) error {
	r, err := openRepo(ctx, opt.repoOptions, o, nil)
	if err != nil {
		return err
	}
	defer closeRepo(r)
	snaps, err := r.Snapshots(ctx, func(id repo.ID, err error) {
		fmt.Fprintf(o.Stderr, "rewind: %s (run 'rewind check')\n", oneLine(err.Error()))
	})
	if err != nil {
		return err
	}
	machines := map[string][]imageJSON{}
	for _, s := range snaps {
		if s.Kind != repo.KindImage || opt.Machine != "" && s.Machine != opt.Machine {
			continue
		}
		j := imageJSON{ID: s.ID().String(), Time: s.Time, Note: s.Note, UsedBytes: s.Image.UsedBytes(), Seconds: time.Duration(s.Duration).Seconds()}
		if s.Image.Stats != nil {
			j.NewBytes = s.Image.Stats.NewBytes
		}
		for _, d := range s.Image.Disks {
			j.Disks = append(j.Disks, fmt.Sprintf("%s %s %s", d.Name, human.Bytes(d.Size), d.Table))
		}
		machines[s.Machine] = append(machines[s.Machine], j)
	}
	if opt.Machine != "" && len(machines) == 0 {
		return fmt.Errorf("machine %q has no images in %s", opt.Machine, r.Location())
	}
	if opt.JSON {
		enc := json.NewEncoder(o.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(machines)
	}
	if len(machines) == 0 {
		fmt.Fprintf(o.Stdout, "no images in %s\n", r.Location())
		return nil
	}
	names := make([]string, 0, len(machines))
	for m := range machines {
		names = append(names, m)
	}
	sort.Strings(names)
	for i, m := range names {
		if i > 0 {
			fmt.Fprintln(o.Stdout)
		}
		fmt.Fprintf(o.Stdout, "%s: %d images\n", m, len(machines[m]))
		tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tTIME\tUSED\tNEW\tDISKS\tNOTE")
		for _, j := range machines[m] {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", j.ID[:8], j.Time.Local().Format("2006-01-02 15:04"), human.Bytes(j.UsedBytes), human.Bytes(j.NewBytes), strings.Join(j.Disks, "; "), j.Note)
		}
		tw.Flush()
	}
	return nil
}
