// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package boot is the boot environment's uinit: it loads the kernel modules
// for the hardware it finds, brings up the wired network by DHCP, reads its
// settings (initramfs, boot medium, kernel command line), finds the boot
// medium, and then runs the task: the wizard, a shell, or an unattended
// restore or capture run through pkg/job, as the wizard and the command
// line run them.
//
// The uinit never exits: if it did, the kernel would panic. Whatever fails,
// it says so in plain words on the console and stays up with a shell.
//
// Everything it prints starts with "rewind: " so that people and test
// harnesses can find it on a serial console. Milestones:
//
//	rewind: boot environment VERSION
//	rewind: modules: loaded N: ...
//	rewind: network: eth0 10.0.2.15/24 gateway 10.0.2.2 ...
//	rewind: settings: task=... repo=...
//	rewind: boot medium: sda (partition sda1, label REWIND)
//	rewind: repository host 10.0.2.2:445 reachable
//	rewind: ready after 4.2s
//	rewind: result {json}          (an unattended task succeeded)
//	rewind: error: ...             (anything that failed)
//	rewind: shell on the console   (staying up)
package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/rewind-backup/rewind/pkg/cli"
	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/netcfg"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/store/smb"
	"github.com/rewind-backup/rewind/pkg/tui"
)

// InitramfsConf is the settings file a build can bake into the initramfs.
const InitramfsConf = "/etc/rewind/rewind.conf"

// Medium is the boot medium: the FAT partition holding rewind.conf, mounted
// read-only at Dir, on the whole disk Disk (which is never written).
type Medium struct {
	Disk      string // kernel name of the whole disk, e.g. "sda"
	Partition string // kernel name of the partition, e.g. "sda1"
	Label     string // FAT volume label
	Dir       string // where it is mounted, read-only
}

// System is what boot uses of the machine it runs on. The Linux
// implementation is NewSystem; tests use a fake. Methods are called from one
// goroutine, in the order Run documents.
type System interface {
	// LoadModules loads the kernel modules for hardware not seen before and
	// returns their names. A module that fails to load is reported in the
	// error, and the others are still loaded. Called again while waiting
	// for the boot medium, to pick up USB devices as they appear.
	LoadModules(ctx context.Context) ([]string, error)
	// Network configures every wired link by DHCP.
	Network(ctx context.Context) ([]netcfg.Lease, error)
	// Cmdline returns the kernel command line.
	Cmdline() (string, error)
	// ReadFile reads a file; errors satisfy errors.Is(err, fs.ErrNotExist)
	// for a missing one.
	ReadFile(path string) ([]byte, error)
	// FindMedium looks once for the boot medium: the FAT partition labelled
	// label or, with label "", the first FAT partition holding rewind.conf.
	// It mounts it read-only. ok is false when there is none (yet).
	FindMedium(ctx context.Context, label string) (m Medium, ok bool, err error)
	// ListDisks lists the whole disks, the boot medium included.
	ListDisks(ctx context.Context) ([]Disk, error)
	// CheckWritable returns an error saying why the disk at path must not
	// be written (mounted, in use, the boot medium bootMedium, ...), or nil.
	CheckWritable(ctx context.Context, path, bootMedium string) error
	// Dial checks that a TCP connection to addr (host:port) can be made.
	Dial(ctx context.Context, addr string) error
	// Shell runs an interactive shell on the console until it exits.
	Shell(ctx context.Context) error
	// Reboot and PowerOff end the machine's run; they return only on error.
	Reboot() error
	PowerOff() error
	// Uptime is the time since the kernel started.
	Uptime() time.Duration
}

// Options are the parts of a boot run that are not the machine.
type Options struct {
	// Console receives every message; the CLI's own output goes there too.
	Console io.Writer
	// Task runs an unattended task (RunTask in production; nil: RunTask),
	// reporting to rep, and returns its result's summary.
	Task func(ctx context.Context, t Task, rep progress.Reporter) (summary any, err error)
	// MediumWait bounds the wait for a labelled boot medium to appear.
	MediumWait time.Duration
	// DiskWait bounds the wait for the target disk to appear.
	DiskWait time.Duration
	// StayUp runs once the task is over or failed: a shell loop that never
	// returns in production. Tests return from it.
	StayUp func(ctx context.Context)
	// Wizard runs the wizard on the console (tui.Run on the console device
	// in production) and returns how the technician left it; nil: there is
	// no wizard.
	Wizard func(ctx context.Context, opt tui.Options) (tui.Exit, error)
	// Static sets a network address by hand (netcfg.Static); nil: the
	// wizard does not offer it.
	Static func(ctx context.Context, link, cidr, gateway string) error
	// LoadFS loads a filesystem's module before the wizard's user-file
	// replay mounts it.
	LoadFS func(fstype string) error
}

// Run is the boot sequence. It returns only when opts.StayUp does.
func Run(ctx context.Context, sys System, opts Options) {
	if opts.Task == nil {
		opts.Task = RunTask
	}
	b := &booter{sys: sys, opts: opts, w: opts.Console}
	if err := b.run(ctx); err != nil {
		b.say("error: %s", oneLine(err.Error()))
	}
	b.say("shell on the console (type 'poweroff' or 'reboot' to leave)")
	opts.StayUp(ctx)
}

type booter struct {
	sys    System
	opts   Options
	w      io.Writer
	medium *Medium
}

func (b *booter) say(format string, args ...any) {
	fmt.Fprintf(b.w, "rewind: "+format+"\n", args...)
}

func (b *booter) run(ctx context.Context) error {
	b.say("boot environment %s", cli.Version)

	mods, err := b.sys.LoadModules(ctx)
	b.say("modules: loaded %d: %s", len(mods), strings.Join(mods, " "))
	if err != nil {
		b.say("warning: some modules did not load: %s", oneLine(err.Error()))
	}

	// Settings: the command line is read first only to learn the medium's
	// label; it is applied last so that it overrides the files.
	s := config.Default()
	if data, err := b.sys.ReadFile(InitramfsConf); err == nil {
		if err := s.ApplyConf(data, InitramfsConf, "/etc/rewind"); err != nil {
			return err
		}
	}
	cmdline, err := b.sys.Cmdline()
	if err != nil {
		return fmt.Errorf("reading the kernel command line: %w", err)
	}
	peek := s
	if err := peek.ApplyCmdline(cmdline); err != nil {
		return err
	}
	b.findMedium(ctx, peek.Medium)
	if b.medium != nil {
		name := b.medium.Dir + "/rewind.conf"
		if data, err := b.sys.ReadFile(name); err == nil {
			if err := s.ApplyConf(data, "rewind.conf on the boot medium", b.medium.Dir); err != nil {
				return err
			}
		}
	}
	if err := s.ApplyCmdline(cmdline); err != nil {
		return err
	}
	shown := s
	shown.Repo = smb.Redact(s.Repo) // a password hidden in the URL is refused later, not printed
	b.say("settings: %s", shown.Summary())

	leases, err := b.sys.Network(ctx)
	for _, l := range leases {
		b.say("network: %s", l)
	}
	if err != nil {
		b.say("network: %s", oneLine(err.Error()))
	}
	if len(leases) == 0 {
		b.say("network: no address; check the cable and the DHCP server")
	}
	// Disks behind a controller loaded above (AHCI, USB) show up only now,
	// and need their own driver (sd_mod).
	b.moreModules(ctx)

	var reachErr error
	if s.Repo != "" {
		reachErr = b.checkRepo(ctx, s.Repo)
		unattended := s.Task == config.TaskRestore || s.Task == config.TaskCapture
		if reachErr != nil && !unattended {
			b.say("error: %s", oneLine(reachErr.Error()))
		}
	}
	b.say("ready after %.1fs", b.sys.Uptime().Seconds())

	switch s.Task {
	case config.TaskShell:
		return nil
	case config.TaskWizard:
		return b.wizard(ctx, s, leases)
	case config.TaskRestore, config.TaskCapture:
		err := reachErr
		if err == nil {
			err = b.unattended(ctx, s)
		}
		if err != nil {
			// The PXE server records the failure and keeps the task.
			line, _ := json.Marshal(map[string]any{"task": s.Task, "ok": false, "machine": s.Machine, "error": oneLine(err.Error())})
			b.report(ctx, s.Report, line)
		}
		return err
	}
	return fmt.Errorf("unknown task %q", s.Task)
}

// wizard runs the wizard on the console with the settings prefilled, and
// does what the technician chose on leaving it.
func (b *booter) wizard(ctx context.Context, s config.Settings, leases []netcfg.Lease) error {
	if b.opts.Wizard == nil {
		return fmt.Errorf("the wizard is %w; use the shell: rewind help", errNotAvailable)
	}
	opt := tui.Options{
		Version: cli.Version, Machine: s.Machine, Boot: true, Leases: leases, Color: true,
		Repo:    job.Repo{URL: withUser(s.Repo, s.User)},
		Network: func(ctx context.Context) ([]netcfg.Lease, error) { return b.sys.Network(ctx) },
		Static:  b.opts.Static,
		LoadFS:  b.opts.LoadFS,
	}
	if s.PasswordFile != "" {
		if _, err := b.sys.ReadFile(s.PasswordFile); err == nil {
			opt.Repo.PasswordFile = s.PasswordFile
		} else {
			b.say("warning: password_file %s cannot be read (%v); the wizard asks for the password", s.PasswordFile, err)
		}
	}
	if b.medium != nil {
		opt.BootMedia = []string{"/dev/" + b.medium.Disk}
	}
	b.say("wizard on the console")
	exit, err := b.opts.Wizard(ctx, opt)
	if err != nil {
		return err
	}
	b.say("wizard: %s", exit)
	switch exit {
	case tui.ExitReboot:
		return b.sys.Reboot()
	case tui.ExitPowerOff:
		return b.sys.PowerOff()
	}
	return nil
}

// findMedium looks for the boot medium, waiting up to MediumWait when the
// boot menu named its label, loading modules for USB devices as they appear.
func (b *booter) findMedium(ctx context.Context, label string) {
	deadline := time.Now().Add(b.opts.MediumWait)
	for {
		m, ok, err := b.sys.FindMedium(ctx, label)
		if err != nil {
			b.say("warning: looking for the boot medium: %s", oneLine(err.Error()))
		}
		if ok {
			b.medium = &m
			b.say("boot medium: %s (partition %s, label %s, read-only at %s)", m.Disk, m.Partition, m.Label, m.Dir)
			return
		}
		if label == "" || time.Now().After(deadline) || ctx.Err() != nil {
			if label != "" {
				b.say("warning: the boot medium labelled %s did not appear; its rewind.conf is not read", label)
			} else {
				b.say("boot medium: none (booted over the network or directly)")
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
		b.moreModules(ctx)
	}
}

// moreModules loads the modules for devices that appeared since the last
// look.
func (b *booter) moreModules(ctx context.Context) {
	mods, err := b.sys.LoadModules(ctx)
	if len(mods) > 0 {
		b.say("modules: loaded %d more: %s", len(mods), strings.Join(mods, " "))
	}
	if err != nil {
		b.say("warning: some modules did not load: %s", oneLine(err.Error()))
	}
}

// checkRepo checks that the repository's host answers; the caller reports
// an error.
func (b *booter) checkRepo(ctx context.Context, repo string) error {
	addr, err := repoAddr(repo)
	if err != nil {
		return err
	}
	if addr == "" {
		return nil // a local path
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.sys.Dial(ctx, addr); err != nil {
		return fmt.Errorf("cannot reach the NAS at %s (%v): check that it is on, that this machine got a network address, and the repo setting", addr, err)
	}
	b.say("repository host %s reachable", addr)
	return nil
}

// repoAddr returns the host:port an smb:// repository URL names ("" for a
// local path).
func repoAddr(repo string) (string, error) {
	if !strings.Contains(repo, "://") {
		return "", nil
	}
	u, err := url.Parse(repo)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("repo %q is not a URL like smb://user@nas/share", smb.Redact(repo))
	}
	switch u.Scheme {
	case "smb":
		port := u.Port()
		if port == "" {
			port = "445"
		}
		return net.JoinHostPort(u.Hostname(), port), nil
	default:
		return "", fmt.Errorf("repo %q: the boot environment reaches repositories over smb:// only", smb.Redact(repo))
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// errNotAvailable marks a task whose command this build does not have.
var errNotAvailable = errors.New("not in this version")
