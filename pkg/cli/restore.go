// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/repo"
)

type restoreOptions struct {
	repoOptions
	Machine    string
	Image      string
	Yes        bool
	NoVerify   bool
	Verify     string
	ZeroUnused bool
	JSON       bool
	Report     bool
	Targets    []string
	// BootMedia are disks never to write (the boot environment's medium).
	BootMedia []string
}

func newRestoreCommand(o OS) *cobra.Command {
	var opt restoreOptions
	cmd := &cobra.Command{
		Use:   "restore --repo REPO --machine NAME [flags] DISK...",
		Short: "put a disk image back onto disks (asks first, unless --yes)",
		Long: "Put disk 1 of an image of machine NAME onto the first DISK, disk 2 onto the second,\n" +
			"and so on; DISK is a block device or a disk image file. Only what differs from the\n" +
			"image is written; what was already there is read and checked on the way, and\n" +
			"what was written is read back from the disk and checked (--verify full reads back\n" +
			"every chunk; --no-verify skips the read-back). Unless --yes, it shows each DISK\n" +
			"and asks for its name to be typed back.",
		Example: "  rewind restore --repo smb://rewind@nas.local/backup/shop --machine office-pc /dev/sda\n" +
			"  rewind restore --repo /mnt/usb/rewind --machine office-pc --image 1a2b --yes /dev/sda",
		RunE: func(cmd *cobra.Command, args []string) error {
			opt.Targets = args
			if opt.Machine == "" || len(opt.Targets) == 0 {
				return fmt.Errorf("restore needs --machine NAME and at least one DISK; run 'rewind restore --help': %w", ErrUsage)
			}
			if opt.Verify != "written" && opt.Verify != "full" {
				return fmt.Errorf("--verify %q: say written or full: %w", opt.Verify, ErrUsage)
			}
			return runRestore(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "the `NAME` of the machine whose image to restore (required)")
	fs.StringVar(&opt.Image, "image", "latest", "the image: its `ID` (at least 4 digits) or latest")
	fs.BoolVar(&opt.Yes, "yes", false, "do not ask: the DISK arguments name the targets")
	fs.BoolVar(&opt.NoVerify, "no-verify", false, "skip reading back and checking what was written")
	fs.StringVar(&opt.Verify, "verify", "written", "what to read back: what was `written`, or the full image")
	fs.BoolVar(&opt.ZeroUnused, "zero-unused", false, "also zero the blocks the image's filesystems do not use")
	fs.BoolVar(&opt.JSON, "json", false, "progress and result as JSON lines")
	fs.BoolVar(&opt.Report, "report", false, "save a report of the outcome in the repository (reports/MACHINE/)")
	fs.Func("boot-medium", "a `DISK` never to write (may be repeated)", func(s string) error {
		opt.BootMedia = append(opt.BootMedia, s)
		return nil
	})
	return cmd
}

// restoreJSON is the result line of restore --json.
type restoreJSON struct {
	result
	Image    string   `json:"image,omitempty"`
	Machine  string   `json:"machine"`
	Targets  []string `json:"targets"`
	Written  int64    `json:"written_bytes"`
	Skipped  int64    `json:"skipped_bytes"`
	Fetched  int64    `json:"fetched_bytes"`
	Verified bool     `json:"verified"`
	// Verification is what the read-back read: "written" (the compare
	// pass checked the rest), "full", or "none".
	Verification string  `json:"verification"`
	Seconds      float64 `json:"seconds"`
}

func runRestore(ctx context.Context, opt restoreOptions, o OS) (err error) {
	start := time.Now()
	res := restoreJSON{Machine: opt.Machine, Targets: opt.Targets}
	if opt.JSON {
		defer func() { printResult(o.Stdout, &res, err) }()
	}
	req := job.RestoreRequest{Machine: opt.Machine, Image: opt.Image, Targets: opt.Targets, BootMedia: opt.BootMedia}
	// The targets are checked before the repository is even opened (and
	// again by the plan).
	if err := job.CheckTargets(req); err != nil {
		return err
	}
	r, pr, done, err := openWithProgress(ctx, opt.repoOptions, o, opt.JSON)
	if err != nil {
		return err
	}
	defer done()
	if opt.Report {
		// Runs before done closes the repository.
		defer func() {
			res.OK = err == nil
			saveReport(ctx, r, o, "restore", opt.Machine, start, err, res.Image, opt.Targets, res)
		}()
	}
	plan, err := job.PlanRestore(ctx, r, req)
	if err != nil {
		return err
	}
	defer plan.Close()
	snap := plan.Snap
	res.Image = snap.ID().String()
	if opt.Yes {
		plan.ConfirmAll()
	} else {
		answers := bufio.NewReader(o.Stdin) // one reader: it may buffer the next disk's answer
		for i := range plan.Disks {
			if err := confirm(o, answers, pr, plan, i); err != nil {
				return err
			}
		}
	}
	sum, err := plan.Run(ctx, job.RestoreOptions{NoVerify: opt.NoVerify, VerifyFull: opt.Verify == "full", ZeroUnused: opt.ZeroUnused, Progress: pr.t})
	if sum != nil {
		res.Written, res.Skipped, res.Fetched, res.Verified, res.Seconds = sum.Written, sum.Skipped, sum.Fetched, sum.Verified, sum.Duration.Seconds()
		res.Verification = job.Verification(sum)
	}
	if err != nil {
		return err
	}
	pr.Stop()
	if opt.JSON {
		return nil
	}
	rate := float64(sum.Written+sum.Skipped) / max(sum.Duration.Seconds(), 0.001)
	fmt.Fprintf(o.Stdout, "restored image %s of %s (%s) onto %s in %s: %s written, %s already in place, %s fetched, %s/s\n",
		repo.ShortID(snap.ID()), opt.Machine, snap.Time.Local().Format("2006-01-02 15:04"), strings.Join(opt.Targets, ", "),
		sum.Duration.Round(100e6), human.Bytes(sum.Written), human.Bytes(sum.Skipped), human.Bytes(sum.Fetched), human.Bytes(int64(rate)))
	switch {
	case sum.Verified && sum.VerifiedAll:
		fmt.Fprintf(o.Stdout, "verified: every chunk read back from the disk matches the image (%s)\n", human.Bytes(sum.VerifiedBytes))
	case sum.Verified:
		fmt.Fprintf(o.Stdout, "verified: %s read back intact (what was written, and the partition table's area); what was already there was read and checked before writing (--verify full reads back everything)\n", human.Bytes(sum.VerifiedBytes))
	default:
		fmt.Fprintln(o.Stdout, "NOT verified (--no-verify): run 'rewind verify' to check the disk")
	}
	return nil
}

// confirm shows target i of the plan and asks for its name to be typed
// back.
func confirm(o OS, answers *bufio.Reader, pr *printer, plan *job.RestorePlan, i int) error {
	d := &plan.Disks[i]
	pr.mu.Lock()
	fmt.Fprintf(o.Stdout, "%s\nEverything on %s will be replaced. Type %s to go on: ", plan.Sentence(i), d.Device.Path(), d.ConfirmName())
	pr.mu.Unlock()
	line, err := answers.ReadString('\n')
	if err != nil && line == "" {
		return errors.New("no confirmation given (standard input ended): nothing was written; use --yes to restore without asking")
	}
	return plan.Confirm(i, line)
}
