// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/cli"
	"github.com/rewind-backup/rewind/pkg/config"
)

// TestTaskArgsParse runs the argument lists the boot environment builds
// through the real command line: every flag must be accepted, so the run
// gets as far as the repository (a folder that is not one here).
func TestTaskArgsParse(t *testing.T) {
	dir := t.TempDir()
	for _, task := range []config.Task{config.TaskRestore, config.TaskCapture} {
		s := config.Default()
		s.Task, s.Repo, s.Machine, s.PasswordFile = task, dir, "pc1", filepath.Join(dir, "pw")
		args := TaskArgs(s, filepath.Join(dir, "disk.img"))
		var out, errs bytes.Buffer
		err := cli.Run(context.Background(), args, cli.OS{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs})
		if err == nil || errors.Is(err, cli.ErrUsage) {
			t.Errorf("cli.Run(%q) = %v, want a failure past the command line", args, err)
		}
	}
}

// TestUnattendedUnknownCommand: a build of rewind without the task's command
// (cli.Run says so with ErrUnknownCommand) is reported as such, and the
// environment stays up.
func TestUnattendedUnknownCommand(t *testing.T) {
	conf := map[string]string{
		"/run/rewind/medium/rewind.conf": "repo = smb://backup@nas/rewind\nmachine = pc1\npassword_file = nas.txt\n",
		"/run/rewind/medium/nas.txt":     "hunter2\n",
	}
	sys := fakeSystem{cmdline: "rewind.task=restore rewind.target=nvme0n1", files: conf,
		medium: &Medium{Disk: "sda", Partition: "sda1", Label: "REWIND", Dir: "/run/rewind/medium"},
		disks:  []Disk{{Name: "sda", Path: "/dev/sda", Serial: "STICK"}, {Name: "nvme0n1", Path: "/dev/nvme0n1", Serial: "S4EV"}}}
	var console bytes.Buffer
	stayed := false
	Run(context.Background(), &sys, Options{
		Console: &console,
		CLI: func(ctx context.Context, args []string, o cli.OS) error {
			// The real command line, asked for a verb it does not have.
			return cli.Run(ctx, append([]string{"no-" + args[0]}, args[1:]...), o)
		},
		StayUp: func(context.Context) { stayed = true },
	})
	want := "rewind: error: unattended restore: the restore command is not in this version of rewind"
	if !strings.Contains(console.String(), want) {
		t.Errorf("console lacks %q:\n%s", want, console.String())
	}
	if !stayed {
		t.Error("Run returned without staying up")
	}
}
