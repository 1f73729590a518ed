// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rewind-backup/rewind/pkg/netcfg"
	"github.com/rewind-backup/rewind/pkg/tui"
)

// IsUinit reports whether rewind was started as the boot environment's
// uinit: as /bin/uinit (u-root's init runs that) or as "rewind boot".
func IsUinit(args []string) bool {
	if len(args) == 0 {
		return false
	}
	return filepath.Base(args[0]) == "uinit" || len(args) > 1 && args[1] == "boot"
}

// Uinit runs the boot environment on the console and never returns, unless
// it is not running as the initramfs's uinit (a child of PID 1, or PID 1),
// which it refuses: it would load modules and reconfigure the network of the
// machine it runs on.
func Uinit(ctx context.Context, _ io.Reader, console io.Writer) error {
	if os.Getpid() != 1 && os.Getppid() != 1 {
		return errors.New("rewind boot runs only as the boot environment's uinit (started by its init); it reconfigures the machine's modules and network")
	}
	sys := NewSystem(console)
	Run(ctx, sys, Options{
		Console:    console,
		MediumWait: 15 * time.Second,
		DiskWait:   10 * time.Second,
		StayUp:     func(ctx context.Context) { shellLoop(ctx, sys, console) },
		Wizard:     consoleWizard,
		Static:     netcfg.Static,
		LoadFS:     sys.(*linuxSystem).LoadFS,
	})
	for {
		time.Sleep(time.Hour) // never exit: the kernel would panic
	}
}

// consoleWizard runs the wizard on the console device. u-root's init hands
// the uinit pipes (its output goes to every console through a
// MultiWriter), not a terminal, so the wizard opens /dev/console itself:
// the console named last on the kernel command line.
func consoleWizard(ctx context.Context, opt tui.Options) (tui.Exit, error) {
	tty, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return tui.ExitShell, fmt.Errorf("opening the console for the wizard: %w", err)
	}
	defer tty.Close()
	return tui.Run(ctx, tty, tty, opt)
}

// shellLoop keeps a shell on the console for good.
func shellLoop(ctx context.Context, sys System, console io.Writer) {
	for {
		err := sys.Shell(ctx)
		if err != nil {
			fmt.Fprintf(console, "rewind: shell: %v\n", err)
		}
		fmt.Fprintf(console, "rewind: the shell ended; starting another (type 'poweroff' or 'reboot' to leave)\n")
		time.Sleep(time.Second)
	}
}
