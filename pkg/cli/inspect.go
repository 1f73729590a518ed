// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/human"
)

// inspectOptions are the flags of `rewind inspect`.
type inspectOptions struct {
	Disk  string
	JSON  bool
	Force bool
}

// inspectReport is what inspect prints with --json, as its result line.
type inspectReport struct {
	result
	Disk       string             `json:"disk"`
	Layout     *disk.Layout       `json:"layout"`
	Partitions []inspectPartition `json:"partitions"`
	// Imaged is the number of bytes a capture would read: the used
	// extents of every mapped partition (less what it records as zeros
	// without reading: a clean ext3/4 journal's log) and the whole of the
	// others.
	Imaged int64 `json:"imaged"`
	// CaptureRefused is why a capture of this disk would be refused now
	// (it is in use, a partition lies beyond its end); "" if it would run.
	CaptureRefused string `json:"capture_refused,omitempty"`
	// CaptureWarning is what a capture with --force would warn about.
	CaptureWarning string `json:"capture_warning,omitempty"`
}

// inspectPartition is one partition and what would be imaged of it.
type inspectPartition struct {
	disk.Partition
	// Filesystem is nil for an extended container and when the map
	// failed (Error says why).
	Filesystem *blockmap.Summary `json:"filesystem,omitempty"`
	Error      string            `json:"error,omitempty"`
}

func newInspectCommand(o OS) *cobra.Command {
	var opts inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [flags] DISK",
		Short: "show a disk's partitions, filesystems and what would be imaged",
		Long: "Show a disk's partition table, and per partition its filesystem, label,\n" +
			"used and total bytes, and whether a capture would image only its used\n" +
			"blocks or all of it (and why). DISK is a block device or a disk image file.\n" +
			"Nothing is written, and no repository is needed.",
		Example: "  rewind inspect /dev/sda\n" +
			"  rewind inspect --json disk.img",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("inspect takes one DISK, got %d arguments; run 'rewind inspect --help': %w", len(args), ErrUsage)
			}
			opts.Disk = args[0]
			return runInspect(cmd.Context(), opts, o.Stdout)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.JSON, "json", false, "print a JSON report instead of a table")
	fs.BoolVar(&opts.Force, "force", false, "map NTFS volumes that are dirty or hibernated, and ext3/4 whose journal needs recovery, instead of refusing them")
	return cmd
}

// runInspect reads opts.Disk's layout and maps each partition.
func runInspect(ctx context.Context, opts inspectOptions, w io.Writer) (err error) {
	rep := inspectReport{Disk: opts.Disk, Partitions: []inspectPartition{}}
	if opts.JSON {
		defer func() { printResult(w, &rep, err) }()
	}
	dev, err := disk.Open(opts.Disk)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer dev.Close()
	l, err := disk.ReadLayout(dev, dev.Size())
	if err != nil {
		return fmt.Errorf("inspect: reading the partition table of %s: %w", opts.Disk, err)
	}
	rep.Disk, rep.Layout = dev.String(), l
	warn, err := checkCapturable(opts.Disk, opts.Force)
	if err != nil && !errors.Is(err, disk.ErrInUse) {
		return fmt.Errorf("inspect: %w", err)
	}
	if err != nil {
		rep.CaptureRefused = oneLine(err.Error())
	}
	rep.CaptureWarning = warn
	parts := l.Partitions
	if l.Type == disk.TypeNone {
		// A filesystem on the whole disk (a "superfloppy"), or nothing.
		parts = []disk.Partition{{Index: 0, Start: 0, Size: l.Size}}
	}
	for _, p := range parts {
		ip := inspectPartition{Partition: p}
		switch {
		case p.Extended:
		case p.Start < 0 || p.Size <= 0 || p.End() > dev.Size():
			ip.Error = fmt.Sprintf("partition %d (%d bytes at %d) does not fit on the disk of %d bytes", p.Index, p.Size, p.Start, dev.Size())
			rep.Imaged += max(0, min(p.Size, dev.Size()-p.Start))
			if p.Size > 0 && rep.CaptureRefused == "" {
				rep.CaptureRefused = fmt.Sprintf("partition %d lies beyond the disk's end", p.Index)
			}
		default:
			m, err := blockmap.Read(ctx, io.NewSectionReader(dev, p.Start, p.Size), p.Size, blockmap.Options{Force: opts.Force})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				ip.Error = oneLine(err.Error())
				rep.Imaged += p.Size // a capture would have to image it raw
				break
			}
			ip.Filesystem = &m.Summary
			rep.Imaged += m.Used - m.ZeroedBytes
		}
		rep.Partitions = append(rep.Partitions, ip)
	}
	if opts.JSON {
		return nil
	}
	return printInspect(w, rep)
}

func printInspect(w io.Writer, rep inspectReport) error {
	l := rep.Layout
	fmt.Fprintf(w, "%s\n", rep.Disk)
	switch l.Type {
	case disk.TypeGPT:
		fmt.Fprintf(w, "GPT, disk GUID %s, %d-byte sectors\n", l.DiskGUID, l.SectorSize)
	case disk.TypeMBR:
		fmt.Fprintf(w, "MBR, disk signature %08x, %d-byte sectors\n", l.Signature, l.SectorSize)
	default:
		fmt.Fprintf(w, "no partition table: the whole disk is shown as one partition\n")
	}
	for _, warn := range l.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTART\tSIZE\tTYPE\tFS\tLABEL\tUSED\tMODE")
	var notes []string
	for _, p := range rep.Partitions {
		typ := p.TypeName
		if typ == "" {
			typ = p.Type
		}
		if p.Name != "" {
			typ += " (" + p.Name + ")"
		}
		fsName, label, used, mode := "-", "", "-", "-"
		switch {
		case p.Extended:
			mode = "none"
			notes = append(notes, fmt.Sprintf("%d: extended container; its logical partitions are listed on their own", p.Index))
		case p.Error != "":
			mode = "error"
			notes = append(notes, fmt.Sprintf("%d: %s", p.Index, p.Error))
		default:
			s := p.Filesystem
			if s.FS != "" {
				fsName = s.FS
			}
			label = s.Label
			used = fmt.Sprintf("%s of %s", human.Bytes(s.Used), human.Bytes(s.Total))
			mode = string(s.Mode)
			if !s.Clean {
				fsName += " (unclean)"
			}
			if s.Reason != "" {
				notes = append(notes, fmt.Sprintf("%d: %s", p.Index, s.Reason))
			}
			if s.ZeroedBytes > 0 {
				notes = append(notes, fmt.Sprintf("%d: %s of the used bytes are the journal's log, empty since a clean unmount: not read nor stored, and written as zeros by a restore", p.Index, human.Bytes(s.ZeroedBytes)))
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Index, human.Bytes(p.Start), human.Bytes(p.Size), typ, fsName, label, used, mode)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
	if rep.CaptureRefused != "" {
		_, err := fmt.Fprintf(w, "\nA capture of this disk would be refused: %s\n", rep.CaptureRefused)
		return err
	}
	if rep.CaptureWarning != "" {
		fmt.Fprintf(w, "\nwarning: %s\n", rep.CaptureWarning)
	}
	_, err := fmt.Fprintf(w, "\nA capture would read %s of this %s disk.\n", human.Bytes(rep.Imaged), human.Bytes(l.Size))
	return err
}
