// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
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

// imageJSON is one image in `images --json`. A damaged image has only its
// id, what its head says (time) and Damaged, the reason it cannot be used.
type imageJSON struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Note      string    `json:"note,omitempty"`
	Disks     []string  `json:"disks"`
	UsedBytes int64     `json:"used_bytes"`
	NewBytes  int64     `json:"new_bytes"`
	Seconds   float64   `json:"seconds,omitempty"`
	Damaged   string    `json:"damaged,omitempty"`
}

// unknownMachine is where listings put damaged snapshots whose machine
// cannot be told; no machine name has parentheses.
const unknownMachine = "(unknown)"

// imagesResult is the one line of images --json.
type imagesResult struct {
	result
	Machines map[string][]imageJSON `json:"machines"`
}

func runImages(ctx context.Context, opt imagesOptions, o OS) (err error) {
	res := imagesResult{Machines: map[string][]imageJSON{}}
	if opt.JSON {
		defer func() { printResult(o.Stdout, &res, err) }()
	}
	r, err := openRepo(ctx, opt.repoOptions, o, nil)
	if err != nil {
		return err
	}
	defer closeRepo(r)
	// Only this machine's images are loaded, and those whose machine cannot
	// be told (they may be its).
	machines := res.Machines
	damaged := 0
	err = r.EachManifest(ctx, func(h *repo.Head) bool {
		return !h.Known() || h.Kind == repo.KindImage && (opt.Machine == "" || h.Machine == opt.Machine)
	}, func(h *repo.Head, s *repo.Snapshot, err error) error {
		if err != nil {
			damaged++
			m := h.Machine
			if !h.Known() {
				m = unknownMachine
			}
			machines[m] = append(machines[m], imageJSON{ID: h.ID.String(), Time: h.Time, Note: h.Note, Damaged: oneLine(err.Error())})
			return nil
		}
		j := imageJSON{ID: s.ID().String(), Time: s.Time, Note: s.Note, UsedBytes: s.Image.UsedBytes(), Seconds: time.Duration(s.Duration).Seconds()}
		if s.Image.Stats != nil {
			j.NewBytes = s.Image.Stats.NewBytes
		}
		for _, d := range s.Image.Disks {
			j.Disks = append(j.Disks, fmt.Sprintf("%s %s %s", d.Name, human.Bytes(d.Size), d.Table))
		}
		machines[s.Machine] = append(machines[s.Machine], j)
		return nil
	})
	if err != nil {
		return err
	}
	if opt.Machine != "" && len(machines) == 0 {
		return fmt.Errorf("machine %q has no images in %s", opt.Machine, r.Location())
	}
	if !opt.JSON {
		printImages(o, r.Location(), machines)
	}
	if damaged > 0 {
		return fmt.Errorf("%d images are damaged (listed above) and cannot be restored: run 'rewind check' on %s: %w", damaged, r.Location(), ErrProblemsFound)
	}
	return nil
}

func printImages(o OS, location string, machines map[string][]imageJSON) {
	if len(machines) == 0 {
		fmt.Fprintf(o.Stdout, "no images in %s\n", location)
		return
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
			if j.Damaged != "" {
				fmt.Fprintf(tw, "  %s\t%s\tDAMAGED\t\t%s\t\n", j.ID[:8], when(j.Time), j.Damaged)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", j.ID[:8], j.Time.Local().Format("2006-01-02 15:04"), human.Bytes(j.UsedBytes), human.Bytes(j.NewBytes), strings.Join(j.Disks, "; "), j.Note)
		}
		tw.Flush()
	}
}

// when formats a snapshot's time for listings; a damaged snapshot may have
// none.
func when(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.Local().Format("2006-01-02 15:04")
}
