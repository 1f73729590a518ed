// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

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
	req := job.CaptureRequest{Machine: opt.Machine, Note: opt.Note, Disks: opt.Disks, Force: opt.Force, Hardware: job.ThisHardware()}
	// The disks are checked before the repository is opened.
	forced, err := job.CheckCapture(req)
	if err != nil {
		return err
	}
	for _, w := range forced {
		fmt.Fprintf(o.Stderr, "rewind: warning: %s\n", w)
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
	res, err := job.Capture(ctx, r, req, pr.t)
	pr.Stop()
	if err != nil {
		return err
	}
	id := res.Snapshot.ID()
	out.Image, out.ReadBytes, out.NewBytes, out.NewChunks = id.String(), res.Stats.ReadBytes, res.Stats.NewBytes, res.Stats.NewChunks
	out.Seconds, out.Warnings = res.Duration.Seconds(), res.Warnings
	if opt.JSON {
		return nil
	}
	fmt.Fprintf(o.Stdout, "image %s of %s: %d disks, %s read, %s new in the repository (%d chunks), %s\n",
		repo.ShortID(id), opt.Machine, len(opt.Disks), human.Bytes(res.Stats.ReadBytes), human.Bytes(res.Stats.NewBytes),
		res.Stats.NewChunks, res.Duration.Round(100e6))
	return nil
}

// checkCapturable is job.CheckCapturable (inspect asks it too).
func checkCapturable(path string, force bool) (warn string, err error) {
	return job.CheckCapturable(path, force)
}
