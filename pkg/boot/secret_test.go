// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/progress"
)

// TestConsoleHidesURLPassword: a password put in rewind.conf's repo URL,
// plainly or percent-encoded, never reaches the console (the settings
// line, the reachability check), whatever happens next.
func TestConsoleHidesURLPassword(t *testing.T) {
	stick := &Medium{Disk: "sda", Partition: "sda1", Label: "REWIND", Dir: "/run/rewind/medium"}
	disks := []Disk{{Name: "sda", Path: "/dev/sda", Serial: "STICK"}, {Name: "nvme0n1", Path: "/dev/nvme0n1", Serial: "S4EV"}}
	for _, repo := range []string{
		"smb://backup:hunter2@nas/rewind",
		"smb://backup%3Ahunter2@nas/rewind",
		"smb://backup%3ahunter2@nas/rewind",
		"smb://WORKGROUP;backup%3Ahunter2@nas/rewind",
		"smb://backup%253Ahunter2@nas/rewind",
		"smb://backup%3Ahunter2@nas:bad/rewind",
		"smb://backup@nas/rewind?password=hunter2",
	} {
		for _, task := range []string{"wizard", "restore"} {
			conf := map[string]string{
				"/run/rewind/medium/rewind.conf": "repo = " + repo + "\nmachine = pc1\npassword_file = nas.txt\n",
				"/run/rewind/medium/nas.txt":     "s3cret\n",
			}
			var out bytes.Buffer
			sys := fakeSystem{cmdline: "rewind.task=" + task + " rewind.target=only", files: conf, medium: stick, disks: disks}
			Run(context.Background(), &sys, Options{
				Console: &out,
				Task: func(ctx context.Context, t Task, rep progress.Reporter) (any, error) {
					return nil, nil
				},
				StayUp: func(context.Context) {},
			})
			if strings.Contains(out.String(), "hunter2") || strings.Contains(out.String(), "s3cret") {
				t.Errorf("rewind.conf repo = %s, task %s: the console shows the password:\n%s", repo, task, out.String())
			}
			// Either pkg/config refuses the URL, or the settings are shown.
			if !strings.Contains(out.String(), "rewind: settings: task=") && !strings.Contains(out.String(), "carries a password") {
				t.Errorf("rewind.conf repo = %s, task %s: neither a refusal nor a settings line:\n%s", repo, task, out.String())
			}
		}
	}
}
