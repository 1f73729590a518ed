// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Command rewind backs up whole disks and user files to a repository on a
// NAS or a local disk, and restores them bare-metal. It is also the uinit of
// the rewind boot environment.
//
// main only wires the operating system to the front ends; see pkg/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rewind-backup/rewind/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], cli.OS{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rewind: %v\n", err)
		os.Exit(cli.ExitCode(err))
	}
}
