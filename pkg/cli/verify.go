// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/restore"
)

type verifyOptions struct {
	repoOptions
	Machine string
	Image   string
	Disks   []string
}

func newVerifyCommand(o OS) *cobra.Command {
	var opt verifyOptions
	cmd := &cobra.Command{
		Use:   "verify --repo REPO --machine NAME [flags] DISK...",
		Short: "check disks against an image",
		Long: "Read each DISK back and check it against disk 1, 2, ... of an image of machine\n" +
			"NAME: what the image holds must be on the disk. Nothing is written. Exit code 3\n" +
			"when they differ.",
		Example: "  rewind verify --repo /mnt/usb/rewind --machine office-pc /dev/sda",
		RunE: func(cmd *cobra.Command, args []string) error {
			opt.Disks = args
			if opt.Machine == "" || len(opt.Disks) == 0 {
				return fmt.Errorf("verify needs --machine NAME and at least one DISK; run 'rewind verify --help': %w", ErrUsage)
			}
			return runVerify(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "the `NAME` of the machine whose image to check against (required)")
	fs.StringVar(&opt.Image, "image", "latest", "the image: its `ID` (at least 4 digits) or latest")
	return cmd
}

func runVerify(ctx context.Context, opt verifyOptions, o OS) error {
	var devs []*disk.Device
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	var srcs []restore.Source
	for _, p := range opt.Disks {
		d, err := disk.Open(p)
		if err != nil {
			return err
		}
		devs = append(devs, d)
		srcs = append(srcs, d)
	}
	r, pr, done, err := openWithProgress(ctx, opt.repoOptions, o, false)
	if err != nil {
		return err
	}
	defer done()
	snap, err := r.FindSnapshot(ctx, opt.Machine, repo.KindImage, opt.Image)
	if err != nil {
		return err
	}
	res, err := restore.Verify(ctx, snap.Image, srcs, restore.VerifyOptions{Progress: pr.t})
	pr.Stop()
	if errors.Is(err, restore.ErrMismatch) {
		return fmt.Errorf("%w: %w", err, ErrProblemsFound)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "verified: the disks match image %s of %s (%d chunks, %s of used data)\n", repo.ShortID(snap.ID()), opt.Machine, res.Chunks, human.Bytes(res.Bytes))
	return nil
}
