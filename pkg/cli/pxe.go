// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/pxe"
)

// defaultTasksFile is where `pxe serve` and `pxe task` keep the tasks
// unless --tasks names another file.
const defaultTasksFile = "/var/lib/rewind/pxe-tasks.json"

func newPXECommand(o OS) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pxe COMMAND",
		Short: "boot machines from the network into rewind, with a task per machine",
		Long: "rewind pxe serve answers machines that boot from the network (PXE) beside the shop\n" +
			"router's DHCP server, which it leaves alone: it answers only PXE clients, only with\n" +
			"boot information. A machine with a task (pxe task add) boots into it; one without\n" +
			"gets a short menu that boots its local disk unless someone picks rewind.",
		Example: "  rewind pxe serve --bundle /srv/rewind/pxe --interface eth0 --repo smb://rewind@nas/backup --password-file /etc/rewind/nas\n" +
			"  rewind pxe task add --mac 52:54:00:12:34:56 --machine office-pc capture --once --then poweroff\n" +
			"  rewind pxe task list",
	}
	group(cmd, "no pxe command given")
	task := &cobra.Command{
		Use:   "task COMMAND",
		Short: "add, list and remove the tasks of machines that boot from the network",
		Example: "  rewind pxe task add --mac 52:54:00:12:34:56 --machine office-pc restore --image latest --once\n" +
			"  rewind pxe task list\n" +
			"  rewind pxe task rm --mac 52:54:00:12:34:56",
	}
	group(task, "no task command given")
	task.AddCommand(newPXETaskAddCommand(o), newPXETaskListCommand(o), newPXETaskRmCommand(o))
	cmd.AddCommand(newPXEServeCommand(o), task, newPXEScheduleCommand(o))
	return cmd
}

// --- serve ---

type pxeServeOptions struct {
	Bundle       string
	Interface    string
	HTTP         string
	Tasks        string
	Repo         string
	PasswordFile string
	KernelArgs   string
	MenuTimeout  time.Duration
	NoDHCP       bool
	DHCPRange    string
	UEFI         string
}

func newPXEServeCommand(o OS) *cobra.Command {
	var opt pxeServeOptions
	cmd := &cobra.Command{
		Use:   "serve --bundle DIR [--interface IF] [--http ADDR] [--tasks FILE] [--repo REPO --password-file FILE] [--dhcp-range FIRST-LAST]",
		Short: "serve the boot environment to machines that boot from the network",
		Long: "Serve the PXE bundle (make pxe) on one network interface: proxy-DHCP on UDP 67\n" +
			"and 4011 (PXE clients only, no addresses: the router's DHCP server keeps doing\n" +
			"that), TFTP on UDP 69 for the first stage (iPXE), and HTTP for each machine's\n" +
			"script, the kernel, the initramfs and its settings. Runs until interrupted; needs\n" +
			"root (or CAP_NET_BIND_SERVICE and CAP_NET_RAW). The tasks file is re-read when it\n" +
			"changes. --repo and --password-file are what tasks use unless they name their own;\n" +
			"the password goes to a machine with a task only, in a second initrd, never on a\n" +
			"command line (see docs/PXE.md for what that does and does not protect against).\n" +
			"On an isolated bench network with no DHCP server, --dhcp-range makes it one.",
		Example: "  rewind pxe serve --bundle out/pxe --interface eth0 --repo smb://rewind@nas/backup --password-file /etc/rewind/nas",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPXEServe(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opt.Bundle, "bundle", "", "the PXE bundle folder `DIR` (make pxe: out/pxe)")
	fs.StringVar(&opt.Interface, "interface", "", "the network interface `IF` the machines are on (default: the only one up)")
	fs.StringVar(&opt.HTTP, "http", ":8080", "listen for HTTP on `ADDR`")
	registerTasksFlag(fs, &opt.Tasks)
	fs.StringVar(&opt.Repo, "repo", "", "the repository `REPO` tasks use (smb://USER@NAS/SHARE)")
	fs.StringVar(&opt.PasswordFile, "password-file", "", "the file `FILE` holding the repository's password, given to machines with a task")
	fs.StringVar(&opt.KernelArgs, "kernel-args", "console=ttyS0,115200 console=tty0 panic=-1", "kernel arguments `ARGS` before rewind's own")
	fs.DurationVar(&opt.MenuTimeout, "menu-timeout", 10*time.Second, "how long the menu of a machine without a task waits before it boots the local disk")
	fs.BoolVar(&opt.NoDHCP, "no-dhcp", false, "serve TFTP and HTTP only (the network's DHCP server already points machines here)")
	fs.StringVar(&opt.UEFI, "uefi", "ipxe", "what UEFI machines boot first: ipxe (ipxe.efi, no Secure Boot) or shim (Debian's signed shim and GRUB: works with Secure Boot on)")
	fs.StringVar(&opt.DHCPRange, "dhcp-range", "", "be the network's DHCP server, handing out `FIRST-LAST` (an isolated bench network only: never beside a router)")
	return cmd
}

func registerTasksFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "tasks", defaultTasksFile, "the tasks file `FILE`")
}

func runPXEServe(ctx context.Context, opt pxeServeOptions, o OS) error {
	if opt.Bundle == "" {
		return fmt.Errorf("pxe serve needs --bundle DIR, the folder make pxe fills (out/pxe): %w", ErrUsage)
	}
	if opt.Repo != "" {
		// The same check the environment makes: no password in the URL,
		// no space (the URL goes on the kernel command line).
		s := config.Default()
		if err := s.ApplyCmdline("rewind.repo=" + opt.Repo); err != nil || strings.ContainsAny(opt.Repo, " \t\"") {
			return fmt.Errorf("--repo must be a URL without a password or spaces, like smb://USER@NAS/SHARE; the password goes in --password-file: %w", ErrUsage)
		}
	}
	b, err := pxe.OpenBundle(opt.Bundle)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, f := range []string{pxe.Kernel, pxe.Initramfs} {
		fl, _, err := b.Open(f)
		if err != nil {
			return fmt.Errorf("the bundle %s has no %s; build it with make pxe", opt.Bundle, f)
		}
		fl.Close()
	}
	if opt.PasswordFile != "" {
		_, warn, err := job.ReadPasswordFile(opt.PasswordFile)
		if err != nil {
			return err
		}
		if warn != "" {
			fmt.Fprintf(o.Stderr, "rewind: warning: %s\n", warn)
		}
	}
	tasks := pxe.OpenTasks(opt.Tasks)
	if _, err := tasks.Load(); err != nil {
		return err
	}
	ifname, addr, err := pxe.InterfaceIP(opt.Interface)
	if err != nil {
		return err
	}
	uefi := ""
	switch opt.UEFI {
	case "ipxe":
	case "shim":
		uefi = pxe.BootShim
		for _, f := range []string{pxe.BootShim, "grubx64.efi"} {
			fl, _, err := b.Open(f)
			if err != nil {
				return fmt.Errorf("--uefi shim: the bundle %s has no %s; build it with make pxe", opt.Bundle, f)
			}
			fl.Close()
		}
	default:
		return fmt.Errorf("--uefi %q is not ipxe or shim: %w", opt.UEFI, ErrUsage)
	}
	var pool *pxe.Pool
	if opt.DHCPRange != "" {
		if opt.NoDHCP {
			return fmt.Errorf("--dhcp-range and --no-dhcp contradict each other; pick one: %w", ErrUsage)
		}
		if pool, err = pxe.NewPool(opt.DHCPRange, addr.IP, addr.Mask); err != nil {
			return fmt.Errorf("%v: %w", err, ErrUsage)
		}
	}
	log := newServeLog(o.Stderr)
	return pxe.Serve(ctx, pxe.Config{
		HTTPConfig: pxe.HTTPConfig{
			Bundle: b, Tasks: tasks, Repo: opt.Repo, PasswordFile: opt.PasswordFile,
			KernelArgs: opt.KernelArgs, MenuTimeout: opt.MenuTimeout, Log: log,
		},
		Interface: ifname, IP: addr.IP, Mask: addr.Mask, HTTPAddr: opt.HTTP, NoDHCP: opt.NoDHCP, Pool: pool, UEFIBoot: uefi,
	})
}

// newServeLog writes one time-stamped line per event to w.
func newServeLog(w io.Writer) func(string, ...any) {
	var mu sync.Mutex
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s\n", time.Now().UTC().Format("2006-01-02T15:04:05Z"), fmt.Sprintf(format, args...))
	}
}

// --- task add / list / rm ---

type pxeTaskAddOptions struct {
	Tasks        string
	MAC          string
	Machine      string
	Image        string
	Files        string
	Target       string
	Then         string
	Once         bool
	Repo         string
	PasswordFile string
}

func newPXETaskAddCommand(o OS) *cobra.Command {
	var opt pxeTaskAddOptions
	cmd := &cobra.Command{
		Use:   "add --mac MAC --machine NAME restore|capture|wizard [--image ID] [--once] [flags]",
		Short: "give a machine a task for its next network boots",
		Long: "Give the machine with network card MAC a task: restore (an image onto its disk),\n" +
			"capture (its disk into the repository) or wizard (boot rewind's wizard). A task\n" +
			"replaces the machine's previous one. --once clears it when the machine reports it\n" +
			"done; without it the machine does it at every network boot.",
		Example: "  rewind pxe task add --mac 52:54:00:12:34:56 --machine office-pc capture --once --then poweroff\n" +
			"  rewind pxe task add --mac 52:54:00:12:34:56 --machine office-pc restore --image latest --target nvme0n1 --once",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("task add takes one task, restore, capture or wizard, got %q; run '%s --help': %w", args, cmd.CommandPath(), ErrUsage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPXETaskAdd(opt, args[0], o)
		},
	}
	fs := cmd.Flags()
	registerTasksFlag(fs, &opt.Tasks)
	fs.StringVar(&opt.MAC, "mac", "", "the machine's network card `MAC` address")
	fs.StringVar(&opt.Machine, "machine", "", "the machine's `NAME` in the repository")
	fs.StringVar(&opt.Image, "image", "", "the image `ID` to restore (default latest)")
	fs.StringVar(&opt.Files, "files", "", "restore: the user files to replay after the image: latest (default: the newest file snapshot, if newer than the image), none, or a file snapshot `ID`")
	fs.StringVar(&opt.Target, "target", "only", "the disk `DISK` to write or read: nvme0n1, sda, serial:SERIAL, or only (the single disk)")
	fs.StringVar(&opt.Then, "then", "", "after the task: wait, reboot or poweroff (default wait)")
	fs.BoolVar(&opt.Once, "once", false, "clear the task when the machine reports it done")
	fs.StringVar(&opt.Repo, "repo", "", "the repository `REPO`, if not the server's --repo")
	fs.StringVar(&opt.PasswordFile, "password-file", "", "the `FILE` on the server holding this repository's password, if not the server's")
	return cmd
}

func runPXETaskAdd(opt pxeTaskAddOptions, what string, o OS) error {
	mac, err := pxe.ParseMAC(opt.MAC)
	if err != nil {
		return fmt.Errorf("--mac: %v: %w", err, ErrUsage)
	}
	t := pxe.Task{
		MAC: mac, Machine: opt.Machine, Task: config.Task(strings.ToLower(what)), Image: opt.Image, Files: opt.Files,
		Target: opt.Target, After: config.After(strings.ToLower(opt.Then)), Once: opt.Once,
		Repo: opt.Repo, PasswordFile: opt.PasswordFile, Added: time.Now().UTC(),
	}
	if t.Task == config.TaskWizard {
		t.Target = "" // the technician picks the disk
	}
	if t.Files != "" && t.Task != config.TaskRestore {
		return fmt.Errorf("--files is for a restore task, not %s: %w", t.Task, ErrUsage)
	}
	if err := t.Check(); err != nil {
		return fmt.Errorf("%v: %w", err, ErrUsage)
	}
	replaced := false
	err = pxe.OpenTasks(opt.Tasks).Update(func(f *pxe.TasksFile) error {
		_, replaced = findTask(f, mac)
		f.Put(t)
		return nil
	})
	if err != nil {
		return err
	}
	verb := "added"
	if replaced {
		verb = "replaced the previous task with"
	}
	fmt.Fprintf(o.Stdout, "%s %s: %s for machine %s at its next network boot%s\n", verb, mac, t.Task, orDash(t.Machine), map[bool]string{true: " (once)", false: ""}[t.Once])
	return nil
}

func findTask(f *pxe.TasksFile, mac string) (pxe.Task, bool) {
	for _, t := range f.Tasks {
		if t.MAC == mac {
			return t, true
		}
	}
	return pxe.Task{}, false
}

type pxeTaskListOptions struct {
	Tasks string
	JSON  bool
}

func newPXETaskListCommand(o OS) *cobra.Command {
	var opt pxeTaskListOptions
	cmd := &cobra.Command{
		Use:     "list [--tasks FILE] [--json]",
		Short:   "list the machines' tasks and the last result each reported",
		Example: "  rewind pxe task list",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPXETaskList(opt, o)
		},
	}
	registerTasksFlag(cmd.Flags(), &opt.Tasks)
	cmd.Flags().BoolVar(&opt.JSON, "json", false, "print the tasks file's content as JSON")
	return cmd
}

func runPXETaskList(opt pxeTaskListOptions, o OS) error {
	f, err := pxe.OpenTasks(opt.Tasks).Load()
	if err != nil {
		return err
	}
	if opt.JSON {
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "%s\n", b)
		return nil
	}
	macs := map[string]bool{}
	for _, t := range f.Tasks {
		macs[t.MAC] = true
	}
	for _, r := range f.Results {
		macs[r.MAC] = true
	}
	if len(macs) == 0 {
		fmt.Fprintf(o.Stdout, "no tasks in %s; add one with rewind pxe task add\n", opt.Tasks)
		return nil
	}
	sorted := make([]string, 0, len(macs))
	for m := range macs {
		sorted = append(sorted, m)
	}
	sort.Strings(sorted)
	tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MAC\tMACHINE\tTASK\tIMAGE\tFILES\tTARGET\tONCE\tLAST RESULT")
	for _, m := range sorted {
		t, ok := findTask(&f, m)
		task, machine, files := "-", "-", "-"
		if ok && t.Task == config.TaskRestore {
			// The user files replayed after the image (config's default).
			files = t.Files
			if files == "" {
				files = "latest"
			}
		}
		if ok {
			task, machine = string(t.Task), orDash(t.Machine)
			if t.After != "" {
				task += ", then " + string(t.After)
			}
		}
		last := "-"
		if r, ok := f.LastResult(m); ok {
			if machine == "-" {
				machine = orDash(r.Machine)
			}
			state := "failed"
			if r.OK {
				state = "ok"
			}
			last = fmt.Sprintf("%s %s %s", r.Time.Local().Format("2006-01-02 15:04"), orDash(string(r.Task)), state)
			if r.Cleared {
				last += " (cleared)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\n", m, machine, task, orDash(t.Image), files, orDash(t.Target), t.Once, last)
	}
	return tw.Flush()
}

type pxeTaskRmOptions struct {
	Tasks string
	MAC   string
}

func newPXETaskRmCommand(o OS) *cobra.Command {
	var opt pxeTaskRmOptions
	cmd := &cobra.Command{
		Use:     "rm --mac MAC [--tasks FILE]",
		Short:   "remove a machine's task (it gets the menu at its next network boot)",
		Example: "  rewind pxe task rm --mac 52:54:00:12:34:56",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPXETaskRm(opt, o)
		},
	}
	registerTasksFlag(cmd.Flags(), &opt.Tasks)
	cmd.Flags().StringVar(&opt.MAC, "mac", "", "the machine's network card `MAC` address")
	return cmd
}

func runPXETaskRm(opt pxeTaskRmOptions, o OS) error {
	mac, err := pxe.ParseMAC(opt.MAC)
	if err != nil {
		return fmt.Errorf("--mac: %v: %w", err, ErrUsage)
	}
	removed := false
	if err := pxe.OpenTasks(opt.Tasks).Update(func(f *pxe.TasksFile) error {
		removed = f.Remove(mac)
		return nil
	}); err != nil {
		return err
	}
	if !removed {
		return fmt.Errorf("%s has no task in %s; rewind pxe task list shows the tasks", mac, opt.Tasks)
	}
	fmt.Fprintf(o.Stdout, "removed the task of %s\n", mac)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
