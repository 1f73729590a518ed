// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/netcfg"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/tui"
)

// fakeSystem is a machine with fixed disks, files and network.
type fakeSystem struct {
	cmdline  string
	files    map[string]string
	medium   *Medium
	disks    []Disk
	dialErr  error
	mounted  map[string]bool
	poweroff bool
	reboot   bool
}

func (f *fakeSystem) LoadModules(ctx context.Context) ([]string, error) { return nil, nil }
func (f *fakeSystem) Network(ctx context.Context) ([]netcfg.Lease, error) {
	return []netcfg.Lease{{Link: "eth0", Addr: "10.0.2.15/24"}}, nil
}
func (f *fakeSystem) Cmdline() (string, error) { return f.cmdline, nil }
func (f *fakeSystem) ReadFile(p string) ([]byte, error) {
	if s, ok := f.files[p]; ok {
		return []byte(s), nil
	}
	return nil, fmt.Errorf("open %s: %w", p, fs.ErrNotExist)
}
func (f *fakeSystem) FindMedium(ctx context.Context, label string) (Medium, bool, error) {
	if f.medium == nil {
		return Medium{}, false, nil
	}
	return *f.medium, true, nil
}
func (f *fakeSystem) ListDisks(ctx context.Context) ([]Disk, error) { return f.disks, nil }
func (f *fakeSystem) Dial(ctx context.Context, addr string) error   { return f.dialErr }
func (f *fakeSystem) CheckWritable(ctx context.Context, path, medium string) error {
	if path == "/dev/"+medium || f.mounted[path] {
		return fmt.Errorf("refused to write to %s: it is mounted", path)
	}
	return nil
}
func (f *fakeSystem) Shell(ctx context.Context) error { return nil }
func (f *fakeSystem) Reboot() error                   { f.reboot = true; return nil }
func (f *fakeSystem) PowerOff() error                 { f.poweroff = true; return nil }
func (f *fakeSystem) Uptime() time.Duration           { return 4200 * time.Millisecond }

func TestRun(t *testing.T) {
	stick := &Medium{Disk: "sda", Partition: "sda1", Label: "REWIND", Dir: "/run/rewind/medium"}
	restorePC1 := Task{Kind: config.TaskRestore, Repo: job.Repo{URL: "smb://backup@nas/rewind", PasswordFile: "/run/rewind/medium/nas.txt"},
		Machine: "pc1", Image: "latest", Files: "latest", Target: "/dev/nvme0n1", BootMedia: []string{"/dev/sda"}}
	disks := []Disk{{Name: "sda", Path: "/dev/sda", Serial: "STICK"}, {Name: "nvme0n1", Path: "/dev/nvme0n1", Serial: "S4EV"}}
	conf := map[string]string{
		"/run/rewind/medium/rewind.conf": "repo = smb://backup@nas/rewind\nmachine = pc1\npassword_file = nas.txt\n",
		"/run/rewind/medium/nas.txt":     "hunter2\n",
	}
	for _, tc := range []struct {
		name     string
		sys      fakeSystem
		taskErr  error
		wantTask *Task    // nil: no task must run
		want     []string // console lines that must appear
		poweroff bool
		// wizardExit is how the fake wizard is left; wantWizard, if set,
		// is the settings it must get.
		wizardExit tui.Exit
		wantWizard *tui.Options
	}{
		{
			name:       "wizard, left with a shell",
			sys:        fakeSystem{disks: disks},
			wizardExit: tui.ExitShell,
			want:       []string{"rewind: wizard on the console", "rewind: wizard: shell", "rewind: shell on the console"},
		},
		{
			name:       "wizard with the stick's settings, left by power off",
			sys:        fakeSystem{files: conf, medium: stick, disks: disks},
			wizardExit: tui.ExitPowerOff,
			wantWizard: &tui.Options{Repo: job.Repo{URL: "smb://backup@nas/rewind", PasswordFile: "/run/rewind/medium/nas.txt"}, Machine: "pc1", BootMedia: []string{"/dev/sda"}},
			want:       []string{"rewind: wizard: poweroff"},
			poweroff:   true,
		},
		{
			name:       "wizard with the user in a setting of its own",
			sys:        fakeSystem{cmdline: "rewind.repo=smb://nas/rewind rewind.user=backup", disks: disks},
			wizardExit: tui.ExitShell,
			wantWizard: &tui.Options{Repo: job.Repo{URL: "smb://backup@nas/rewind"}},
			want:       []string{"rewind: wizard: shell"},
		},
		{
			name:     "unattended restore from the stick's rewind.conf",
			sys:      fakeSystem{cmdline: "rewind.task=restore rewind.target=only rewind.after=poweroff", files: conf, medium: stick, disks: disks},
			wantTask: &restorePC1,
			want:     []string{`rewind: result {"image":"latest","machine":"pc1","ok":true`, "rewind: powering off"},
			poweroff: true,
		},
		{
			name: "the boot medium is never a target",
			sys:  fakeSystem{cmdline: "rewind.task=restore rewind.target=serial:STICK", files: conf, medium: stick, disks: disks},
			want: []string{"rewind: error: rewind.target=serial:STICK is the boot medium", "rewind: shell on the console"},
		},
		{
			name: "a mounted target is refused",
			sys:  fakeSystem{cmdline: "rewind.task=restore rewind.target=nvme0n1", files: conf, medium: stick, disks: disks, mounted: map[string]bool{"/dev/nvme0n1": true}},
			want: []string{"rewind: error: rewind.target=nvme0n1: refused to write to /dev/nvme0n1: it is mounted", "rewind: shell on the console"},
		},
		{
			name: "NAS unreachable",
			sys:  fakeSystem{cmdline: "rewind.task=restore rewind.target=only", files: conf, medium: stick, disks: disks, dialErr: errors.New("no route to host")},
			want: []string{"rewind: error: cannot reach the NAS at nas:445", "rewind: shell on the console"},
		},
		{
			name: "password on the command line",
			sys:  fakeSystem{cmdline: "rewind.task=restore rewind.password=hunter2", files: conf, medium: stick, disks: disks},
			want: []string{"rewind: error: kernel command line: a parameter whose name contains \"pass\"", "rewind: shell on the console"},
		},
		{
			name: "missing settings",
			sys:  fakeSystem{cmdline: "rewind.task=capture", disks: disks},
			want: []string{"rewind: error: task capture needs repo, machine, target, password_file"},
		},
		{
			name:     "restore fails",
			sys:      fakeSystem{cmdline: "rewind.task=restore rewind.target=nvme0n1 rewind.after=reboot", files: conf, medium: stick, disks: disks},
			taskErr:  errors.New("target too small"),
			wantTask: &restorePC1,
			want:     []string{"rewind: error: unattended restore onto nvme0n1 failed: target too small", "rewind: shell on the console"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			var gotTask *Task
			var gotWizard *tui.Options
			stayed := false
			sys := tc.sys
			Run(context.Background(), &sys, Options{
				Console: &out,
				Task: func(ctx context.Context, t Task, rep progress.Reporter) (any, error) {
					gotTask = &t
					rep.Note(progress.Info, "a note from the task")
					return map[string]bool{"verified": true}, tc.taskErr
				},
				StayUp: func(context.Context) { stayed = true },
				Wizard: func(ctx context.Context, opt tui.Options) (tui.Exit, error) {
					gotWizard = &opt
					return tc.wizardExit, nil
				},
			})
			if tc.wantWizard != nil {
				if gotWizard == nil {
					t.Fatal("the wizard did not run")
				}
				got := tui.Options{Repo: job.Repo{URL: gotWizard.Repo.URL, PasswordFile: gotWizard.Repo.PasswordFile}, Machine: gotWizard.Machine, BootMedia: gotWizard.BootMedia}
				if diff := cmp.Diff(*tc.wantWizard, got, cmpopts.IgnoreUnexported(tui.Options{})); diff != "" {
					t.Errorf("wizard settings (-want +got):\n%s", diff)
				}
				if !gotWizard.Boot || gotWizard.Network == nil {
					t.Errorf("wizard options Boot=%v Network set=%v, want both", gotWizard.Boot, gotWizard.Network != nil)
				}
			}
			if diff := cmp.Diff(tc.wantTask, gotTask, cmpopts.IgnoreFields(job.Repo{}, "Password", "Warn")); diff != "" {
				t.Errorf("task (-want +got):\n%s", diff)
			}
			if gotTask != nil && !strings.Contains(out.String(), "rewind: info: a note from the task") {
				t.Errorf("the task's note is not on the console:\n%s", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("console lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "hunter2") {
				t.Errorf("console shows the password:\n%s", out.String())
			}
			if !stayed {
				t.Error("Run returned without staying up")
			}
			if sys.poweroff != tc.poweroff || sys.reboot {
				t.Errorf("poweroff=%v reboot=%v, want poweroff=%v and no reboot", sys.poweroff, sys.reboot, tc.poweroff)
			}
		})
	}
}

func TestTaskWithUser(t *testing.T) {
	s := config.Default()
	s.Task = config.TaskRestore
	s.Repo, s.User, s.Machine, s.PasswordFile = "smb://nas:4450/b", "backup", "pc1", "/etc/rewind/pw"
	got := taskFor(s, "/dev/sda")
	want := Task{Kind: config.TaskRestore, Repo: job.Repo{URL: "smb://backup@nas:4450/b", PasswordFile: "/etc/rewind/pw"}, Machine: "pc1", Image: "latest", Files: "latest", Target: "/dev/sda"}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(job.Repo{}, "Password", "Warn")); diff != "" {
		t.Errorf("taskFor (-want +got):\n%s", diff)
	}
}
