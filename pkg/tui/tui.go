// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package tui is the restore wizard: a terminal front end that takes a
// technician from "this machine" to a restored, verified disk, or to a
// capture. It draws and asks; every action goes through pkg/job and the
// engines, as the command line does.
//
// It is made for the worst terminal it meets: the Linux console (80×25,
// 16 colours, few glyphs, no terminfo) and a serial line. It redraws at
// most 10 times a second, only the lines that changed, and uses ASCII.
package tui

import (
	"context"
	"fmt"
	"io"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/netcfg"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// Exit is what the technician chose to do when leaving the wizard.
type Exit int

// The ways out of the wizard.
const (
	ExitQuit     Exit = iota // leave (a workstation: back to the shell it ran in)
	ExitShell                // a shell on the console (boot environment)
	ExitReboot               // restart the machine
	ExitPowerOff             // power it off
)

func (e Exit) String() string {
	return [...]string{"quit", "shell", "reboot", "poweroff"}[e]
}

// Options configure a wizard run. Only Repo's URL and PasswordFile are
// read from Repo; the wizard asks for the password itself when there is no
// file.
type Options struct {
	Version string
	Repo    job.Repo
	// Machine prefills the machine's name (settings); the hardware match
	// may still preselect another.
	Machine string
	// BootMedia are disks never offered (the boot environment's medium).
	BootMedia []string
	// TestDisks, when set, are the only disks offered: disk image files
	// (tests and demos). The real disks are not listed then.
	TestDisks []string
	// Boot says the wizard runs in the boot environment: its last menu
	// offers a shell, reboot and power off rather than quit.
	Boot bool
	// Leases are the network addresses the boot environment has; Network
	// asks DHCP again (nil: no network step, as on a workstation). Static
	// sets an address by hand ("192.168.1.50/24", gateway may be "").
	Leases  []netcfg.Lease
	Network func(ctx context.Context) ([]netcfg.Lease, error)
	Static  func(ctx context.Context, link, cidr, gateway string) error
	// LoadFS loads a filesystem's kernel module before the user-file
	// replay mounts it (the boot environment's module loader); nil: none.
	LoadFS func(fstype string) error
	// Inspect reads this machine (nil: job.Inspect). Open opens a
	// repository (nil: job.Open). Model tests replace them.
	Inspect func() job.Machine
	Open    func(ctx context.Context, spec job.Repo, rep progress.Reporter) (*repo.Repository, error)
	// Color uses the 16 ANSI colours; off, the wizard is plain text with
	// reverse video, readable on any terminal.
	Color bool
	Now   func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Inspect == nil {
		media := o.BootMedia
		o.Inspect = func() job.Machine { return job.Inspect(media...) }
	}
	if o.Open == nil {
		o.Open = job.Open
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// fps bounds redraws: a 115200-baud serial console takes a full 80×25
// screen in about 0.2 s, and the renderer sends only lines that changed.
const fps = 10

// Run runs the wizard on a terminal (in and out are usually one device:
// the console, a serial line or /dev/tty) until the technician leaves it,
// and returns how.
func Run(ctx context.Context, in io.Reader, out io.Writer, opt Options) (Exit, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := New(ctx, opt)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out),
		tea.WithAltScreen(), tea.WithFPS(fps), tea.WithoutSignalHandler())
	final, err := p.Run()
	if fm, ok := final.(*Model); ok {
		fm.close()
		if err != nil {
			return fm.exit, fmt.Errorf("the wizard stopped: %w", err)
		}
		return fm.exit, nil
	}
	return ExitQuit, err
}
