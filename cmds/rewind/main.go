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
	"runtime/debug"
	"syscall"

	"github.com/rewind-backup/rewind/pkg/boot"
	"github.com/rewind-backup/rewind/pkg/cli"
)

// memoryLimit is the heap size at which the garbage collector works harder
// to stay below, leaving room under 256 MiB for stacks and the runtime.
const memoryLimit = 200 << 20

func main() {
	// The boot environment runs from RAM, and its tasks run in this
	// process: every command keeps to 256 MiB
	// (a bound that the repository's limits are computed for, and that
	// pkg/cli's TestMemoryBounded measures). Without a limit the collector
	// lets the heap grow to twice what is live before it runs.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	// As the boot environment's uinit (/bin/uinit, or "rewind boot"),
	// rewind never exits: u-root's init would leave the kernel to panic.
	// It catches and drops Ctrl-C, which belongs to the shell it runs
	// (caught, not ignored: an ignored signal would stay ignored in the shell).
	if boot.IsUinit(os.Args) {
		signal.Notify(make(chan os.Signal, 1), os.Interrupt)
		err := boot.Uinit(context.Background(), os.Stdin, os.Stdout)
		fmt.Fprintf(os.Stderr, "rewind: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], cli.OS{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rewind: %v\n", err)
		os.Exit(cli.ExitCode(err))
	}
}
