// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"

	"github.com/rewind-backup/rewind/pkg/repo"
)

type initOptions struct {
	repoOptions
	ChunkSize int
}

func cmdInit(ctx context.Context, args []string, o OS) error {
	var opt initOptions
	fs := newFlags("init", o)
	opt.register(fs)
	fs.IntVar(&opt.ChunkSize, "chunk-size", repo.DefaultChunkSize, "bytes per disk-image chunk, a power of two from 64 KiB to 16 MiB")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("init takes no arguments besides flags, got %q: %w", fs.Args(), ErrUsage)
	}
	return runInit(ctx, opt, o)
}

func runInit(ctx context.Context, opt initOptions, o OS) error {
	s, err := openStore(ctx, opt.repoOptions, o, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := repo.Init(ctx, s, repo.InitOptions{ChunkSize: opt.ChunkSize})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "created repository %s at %s (format %d, %d KiB chunks)\n", r.Config().ID[:8], s.Location(), r.Config().Version, r.Config().ChunkSize>>10)
	return nil
}
