// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/rewind-backup/rewind/pkg/pxe"
)

func newPXEScheduleCommand(o OS) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule COMMAND",
		Short: "weekly captures: wake the machine and have it capture itself",
		Long: "At a schedule's time, rewind pxe serve arms a one-shot capture task for the machine\n" +
			"and sends Wake-on-LAN to it every minute until it boots from the network (at most 15\n" +
			"minutes). A schedule missed while the server was down runs when it starts, if less\n" +
			"than 12 hours late.",
		Example: "  rewind pxe schedule add --mac 52:54:00:12:34:56 --machine office-pc --weekly \"Sun 02:00\" capture --then poweroff\n" +
			"  rewind pxe schedule list",
	}
	group(cmd, "no schedule command given")
	cmd.AddCommand(newPXEScheduleAddCommand(o), newPXEScheduleListCommand(o), newPXEScheduleRmCommand(o))
	return cmd
}

type pxeScheduleAddOptions struct {
	Tasks   string
	MAC     string
	Machine string
	Weekly  string
	Target  string
	Then    string
}

func newPXEScheduleAddCommand(o OS) *cobra.Command {
	var opt pxeScheduleAddOptions
	cmd := &cobra.Command{
		Use:     "add --mac MAC --machine NAME --weekly \"DAY HH:MM\" capture [--then poweroff|reboot]",
		Short:   "capture a machine every week",
		Example: "  rewind pxe schedule add --mac 52:54:00:12:34:56 --machine office-pc --weekly \"Sun 02:00\" capture --then poweroff",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("schedule add takes one task, capture, got %q; run '%s --help': %w", args, cmd.CommandPath(), ErrUsage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPXEScheduleAdd(opt, args[0], o)
		},
	}
	fs := cmd.Flags()
	registerTasksFlag(fs, &opt.Tasks)
	fs.StringVar(&opt.MAC, "mac", "", "the machine's network card `MAC` address")
	fs.StringVar(&opt.Machine, "machine", "", "the machine's `NAME` in the repository")
	fs.StringVar(&opt.Weekly, "weekly", "", "the day and time, server's local time: `\"Sun 02:00\"`")
	fs.StringVar(&opt.Target, "target", "only", "the disk `DISK` to capture: nvme0n1, sda, serial:SERIAL, or only")
	fs.StringVar(&opt.Then, "then", "poweroff", "after the capture: poweroff, reboot or wait")
	return cmd
}

func runPXEScheduleAdd(opt pxeScheduleAddOptions, what string, o OS) error {
	mac, err := pxe.ParseMAC(opt.MAC)
	if err != nil {
		return fmt.Errorf("--mac: %v: %w", err, ErrUsage)
	}
	s := pxe.Schedule{MAC: mac, Machine: opt.Machine, Task: config.Task(strings.ToLower(what)), Target: opt.Target,
		After: config.After(strings.ToLower(opt.Then)), Weekly: opt.Weekly, Added: time.Now().UTC()}
	if err := s.Check(); err != nil {
		return fmt.Errorf("%v: %w", err, ErrUsage)
	}
	if err := (pxe.Task{MAC: mac, Machine: s.Machine, Task: s.Task, After: s.After, Target: s.Target}).Check(); err != nil {
		return fmt.Errorf("%v: %w", err, ErrUsage)
	}
	if err := pxe.OpenTasks(opt.Tasks).Update(func(f *pxe.TasksFile) error {
		f.PutSchedule(s)
		return nil
	}); err != nil {
		return err
	}
	next, _ := s.Next(time.Now())
	fmt.Fprintf(o.Stdout, "%s: %s for machine %s every %s; next %s\n", mac, s.Task, s.Machine, s.Weekly, next.Format("Mon 2006-01-02 15:04"))
	return nil
}

func newPXEScheduleListCommand(o OS) *cobra.Command {
	var tasks string
	cmd := &cobra.Command{
		Use:     "list [--tasks FILE]",
		Short:   "list the schedules with their next run and the last result",
		Example: "  rewind pxe schedule list",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := pxe.OpenTasks(tasks).Load()
			if err != nil {
				return err
			}
			if len(f.Schedules) == 0 {
				fmt.Fprintf(o.Stdout, "no schedules in %s; add one with rewind pxe schedule add\n", tasks)
				return nil
			}
			tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MAC\tMACHINE\tTASK\tWEEKLY\tNEXT\tLAST RUN\tLAST RESULT")
			now := time.Now()
			for _, s := range f.Schedules {
				next := "-"
				if n, err := s.Next(now); err == nil {
					next = n.Format("2006-01-02 15:04")
				}
				last := "-"
				if !s.LastRun.IsZero() {
					last = s.LastRun.Local().Format("2006-01-02 15:04")
				}
				res := "-"
				if r, ok := f.LastResult(s.MAC); ok {
					res = map[bool]string{true: "ok", false: "failed"}[r.OK] + " " + r.Time.Local().Format("2006-01-02 15:04")
				}
				task := string(s.Task)
				if s.After != "" {
					task += ", then " + string(s.After)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.MAC, s.Machine, task, s.Weekly, next, last, res)
			}
			return tw.Flush()
		},
	}
	registerTasksFlag(cmd.Flags(), &tasks)
	return cmd
}

func newPXEScheduleRmCommand(o OS) *cobra.Command {
	var tasks, macFlag string
	cmd := &cobra.Command{
		Use:     "rm --mac MAC [--tasks FILE]",
		Short:   "remove a machine's schedule",
		Example: "  rewind pxe schedule rm --mac 52:54:00:12:34:56",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mac, err := pxe.ParseMAC(macFlag)
			if err != nil {
				return fmt.Errorf("--mac: %v: %w", err, ErrUsage)
			}
			removed := false
			if err := pxe.OpenTasks(tasks).Update(func(f *pxe.TasksFile) error {
				removed = f.RemoveSchedule(mac)
				return nil
			}); err != nil {
				return err
			}
			if !removed {
				return fmt.Errorf("%s has no schedule in %s; rewind pxe schedule list shows them", mac, tasks)
			}
			fmt.Fprintf(o.Stdout, "removed the schedule of %s\n", mac)
			return nil
		},
	}
	registerTasksFlag(cmd.Flags(), &tasks)
	cmd.Flags().StringVar(&macFlag, "mac", "", "the machine's network card `MAC` address")
	return cmd
}
