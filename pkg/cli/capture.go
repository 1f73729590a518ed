// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/repo"
)

type captureOptions struct {
	repoOptions
	Machine string
	Note    string
	Force   bool
	JSON    bool
	Report  bool
	Disks   []string
}

func newCaptureCommand(o OS) *cobra.Command {
	var opt captureOptions
	cmd := &cobra.Command{
		Use:   "capture --repo REPO --machine NAME [flags] DISK...",
		Short: "image whole disks into the repository",
		Long: "Image each DISK (a block device or a disk image file) into the repository as one\n" +
			"image of machine NAME: its partition tables, and of each partition the blocks its\n" +
			"filesystem uses (all of it where the filesystem is unknown). Chunks the repository\n" +
			"already holds are not stored again. Prints the image's id.",
		Example: "  rewind capture --repo smb://rewind@nas.local/backup/shop --machine office-pc /dev/sda\n" +
			"  rewind capture --repo /mnt/usb/rewind --machine office-pc --note \"before the update\" /dev/nvme0n1",
		RunE: func(cmd *cobra.Command, args []string) error {
			opt.Disks = args
			if opt.Machine == "" || len(opt.Disks) == 0 {
				return fmt.Errorf("capture needs --machine NAME and at least one DISK; run 'rewind capture --help': %w", ErrUsage)
			}
			if err := repo.ValidMachine(opt.Machine); err != nil {
				return fmt.Errorf("%v: %w", err, ErrUsage)
			}
			return runCapture(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "the machine's `NAME` in the repository (required)")
	fs.StringVar(&opt.Note, "note", "", "a `TEXT` kept with the image")
	fs.BoolVar(&opt.Force, "force", false, "capture a disk that is mounted, and map filesystems that were not shut down cleanly instead of imaging them raw (the image may be inconsistent)")
	fs.BoolVar(&opt.JSON, "json", false, "progress and result as JSON lines")
	fs.BoolVar(&opt.Report, "report", false, "save a report of the outcome in the repository (reports/MACHINE/)")
	return cmd
}

// captureJSON is the result line of capture --json.
type captureJSON struct {
	result
	Image     string   `json:"image,omitempty"`
	Machine   string   `json:"machine"`
	ReadBytes int64    `json:"read_bytes"`
	NewBytes  int64    `json:"new_bytes"`
	NewChunks int64    `json:"new_chunks"`
	Seconds   float64  `json:"seconds"`
	Warnings  []string `json:"warnings,omitempty"`
}

func runCapture(ctx context.Context, opt captureOptions, o OS) (err error) {
	start := time.Now()
	out := captureJSON{Machine: opt.Machine}
	if opt.JSON {
		defer func() { printResult(o.Stdout, &out, err) }()
	}
	var devs []*disk.Device
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	var forced []string
	for _, p := range opt.Disks {
		warn, err := checkCapturable(p, opt.Force)
		if errors.Is(err, disk.ErrInUse) {
			return fmt.Errorf("capture refused: %w", err)
		}
		if err != nil {
			return err
		}
		if warn != "" {
			fmt.Fprintf(o.Stderr, "rewind: warning: %s\n", warn)
			forced = append(forced, warn)
		}
	}
	var srcs []capture.Source
	for _, p := range opt.Disks {
		d, err := disk.Open(p)
		if err != nil {
			return err
		}
		devs = append(devs, d)
		srcs = append(srcs, d)
	}
	r, pr, done, err := openWithProgress(ctx, opt.repoOptions, o, opt.JSON)
	if err != nil {
		return err
	}
	defer done()
	if opt.Report {
		// Runs before done closes the repository.
		defer func() {
			out.OK = err == nil
			saveReport(ctx, r, o, "capture", opt.Machine, start, err, out.Image, opt.Disks, out)
		}()
	}
	host, _ := os.Hostname()
	res, err := capture.Capture(ctx, r, srcs, capture.Options{
		Machine: opt.Machine, Note: opt.Note, Host: host, Force: opt.Force, Progress: pr.t,
		Hardware: job.ThisHardware(),
	})
	pr.Stop()
	if err != nil {
		return err
	}
	id := res.Snapshot.ID()
	out.Image, out.ReadBytes, out.NewBytes, out.NewChunks = id.String(), res.Stats.ReadBytes, res.Stats.NewBytes, res.Stats.NewChunks
	out.Seconds, out.Warnings = res.Duration.Seconds(), append(forced, res.Warnings...)
	if opt.JSON {
		return nil
	}
	fmt.Fprintf(o.Stdout, "image %s of %s: %d disks, %s read, %s new in the repository (%d chunks), %s\n",
		repo.ShortID(id), opt.Machine, len(srcs), human.Bytes(res.Stats.ReadBytes), human.Bytes(res.Stats.NewBytes),
		res.Stats.NewChunks, res.Duration.Round(100e6))
	return nil
}

// checkCapturable decides whether the disk at path may be imaged now: not
// while it, a partition of it or a device built on it is mounted or in use
// as swap, because an image of a filesystem in use is inconsistent. With
// force it may, and warn says what the image is worth. inspect asks it too.
func checkCapturable(path string, force bool) (warn string, err error) {
	err = disk.CheckCapturable(path)
	switch {
	case err == nil:
		return "", nil
	case !errors.Is(err, disk.ErrInUse):
		return "", err
	case force:
		return fmt.Sprintf("%v; imaging it anyway (--force): the image of a filesystem in use may not be consistent", err), nil
	}
	return "", fmt.Errorf("%w; an image of a filesystem in use is not consistent: boot this machine from the rewind stick or PXE and capture from there, or give --force to image it anyway", err)
}
