// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

type initOptions struct {
	repoOptions
	ChunkSize int
	Format    int
}

func newInitCommand(o OS) *cobra.Command {
	var opt initOptions
	cmd := &cobra.Command{
		Use:   "init --repo REPO [flags]",
		Short: "create a repository",
		Long: "Create a repository at REPO: a folder, or a path on an SMB share. The folder and\n" +
			"any missing parents are created; the share itself must exist.",
		Example: "  rewind init --repo /mnt/usb/rewind\n" +
			"  rewind init --repo smb://rewind@nas.local/backup/shop --password-file ~/.rewind-pass",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInit(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.IntVar(&opt.ChunkSize, "chunk-size", 0, "`BYTES` per disk-image chunk, a power of two from 16 KiB to 16 MiB (format 1: from 64 KiB); default 32 KiB in format 2, 1 MiB in format 1")
	fs.IntVar(&opt.Format, "format", repo.FormatVersion, "repository format `VERSION`: 2 keeps chunks in pack files; 1 is one file per chunk, for rewind before packs")
	return cmd
}

func runInit(ctx context.Context, opt initOptions, o OS) error {
	var s store.Store
	var err error
	if opt.Repo != "" && !strings.Contains(opt.Repo, "://") {
		// A folder, as openStore tells them apart: create it first. (On a
		// share, saving the repository's files makes the folders.)
		s, err = local.Create(opt.Repo)
	} else {
		s, err = openStore(ctx, opt.repoOptions, o, nil)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := repo.Init(ctx, s, repo.InitOptions{Version: opt.Format, ChunkSize: opt.ChunkSize})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "created repository %s at %s (format %d, %d KiB chunks)\n", r.Config().ID[:8], s.Location(), r.Config().Version, r.Config().ChunkSize>>10)
	return nil
}
