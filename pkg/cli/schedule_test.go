// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

const schedRepo = "smb://rewind@nas.local/backup/shop 1"

// TestScheduleSystemd: the units systemd-analyze verify accepts, with the
// command line and the interval asked for.
func TestScheduleSystemd(t *testing.T) {
	testutil.NeedTool(t, "systemd-analyze")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, every := range []string{"1h", "daily", "30m"} {
		out, errs, code := run(t, nil, "files", "schedule", "--repo", schedRepo, "--password-file", "/etc/rewind/pass word", "--machine", "office-pc", "--every", every, "--for", "linux", "--rewind", exe)
		if code != 0 {
			t.Fatalf("schedule --every %s = %d, %q", every, code, errs)
		}
		dir := t.TempDir()
		parts := strings.Split(out, "# /etc/systemd/system/rewind-files.timer\n")
		service := strings.TrimPrefix(parts[0], "# /etc/systemd/system/rewind-files.service\n")
		timer := strings.Split(parts[1], "# then:")[0]
		os.WriteFile(filepath.Join(dir, "rewind-files.service"), []byte(service), 0o644)
		os.WriteFile(filepath.Join(dir, "rewind-files.timer"), []byte(timer), 0o644)
		cmd := exec.Command("systemd-analyze", "verify", filepath.Join(dir, "rewind-files.service"), filepath.Join(dir, "rewind-files.timer"))
		if b, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(b), "rewind-files") {
			t.Errorf("systemd-analyze verify (--every %s): %v %s\n%s%s", every, err, b, service, timer)
		}
		want := map[string]string{"1h": "OnCalendar=hourly", "daily": "OnCalendar=daily", "30m": "OnUnitActiveSec=1800s"}[every]
		if !strings.Contains(timer, want) || !strings.Contains(service, `"--repo" "smb://rewind@nas.local/backup/shop 1"`) || !strings.Contains(service, `"/etc/rewind/pass word"`) {
			t.Errorf("units for --every %s lack %q or the quoted command line:\n%s%s", every, want, service, timer)
		}
	}
	_, errs, code := run(t, nil, "files", "schedule", "--repo", schedRepo, "--password-file", "/p", "--every", "5m")
	if code != 2 || !strings.Contains(errs, "15m") {
		t.Errorf("schedule --every 5m = %d, %q; want a usage error", code, errs)
	}
	_, errs, code = run(t, nil, "files", "schedule", "--repo", schedRepo)
	if code != 2 || !strings.Contains(errs, "--password-file") {
		t.Errorf("schedule without a password file = %d, %q; want a usage error", code, errs)
	}
}

// TestScheduleWindows: the task parses back with the schema's required
// elements, and its arguments split back into the command line.
func TestScheduleWindows(t *testing.T) {
	out, errs, code := run(t, nil, "files", "schedule", "--repo", schedRepo, "--password-file", `C:\ProgramData\rewind\pass word`, "--machine", "office-pc", "--for", "windows", "--rewind", `C:\Program Files\rewind\rewind.exe`)
	if code != 0 {
		t.Fatalf("schedule --for windows = %d, %q", code, errs)
	}
	var task Task
	if err := xml.Unmarshal([]byte(out), &task); err != nil {
		t.Fatalf("the task does not parse: %v\n%s", err, out)
	}
	if task.Xmlns != "http://schemas.microsoft.com/windows/2004/02/mit/task" || task.Version == "" ||
		task.Triggers.TimeTrigger.StartBoundary == "" || task.Triggers.TimeTrigger.Repetition == nil || task.Triggers.TimeTrigger.Repetition.Interval != "PT1H" ||
		task.Principals.Principal.UserID != "S-1-5-18" || task.Actions.Exec.Command != `C:\Program Files\rewind\rewind.exe` {
		t.Errorf("the task lacks what it needs: %+v", task)
	}
	want := `files backup --repo "smb://rewind@nas.local/backup/shop 1" --machine office-pc --password-file "C:\ProgramData\rewind\pass word"`
	if task.Actions.Exec.Arguments != want {
		t.Errorf("arguments = %s, want %s", task.Actions.Exec.Arguments, want)
	}
	for d, want := range map[string]string{"daily": "P1D", "90m": "PT1H30M"} {
		out, _, _ := run(t, nil, "files", "schedule", "--repo", "r", "--password-file", "p", "--machine", "m", "--for", "windows", "--every", d)
		if !strings.Contains(out, "<Interval>"+want+"</Interval>") {
			t.Errorf("--every %s: no interval %s in\n%s", d, want, out)
		}
	}
}

// TestScheduleLaunchd: the plist parses back (plutil is not here) with its
// label, arguments and interval.
func TestScheduleLaunchd(t *testing.T) {
	out, errs, code := run(t, nil, "files", "schedule", "--repo", "smb://u@nas/s/<r&d>", "--password-file", "/etc/rewind/p", "--machine", "mac-1", "--for", "darwin", "--rewind", "/usr/local/bin/rewind", "--every", "daily")
	if code != 0 {
		t.Fatalf("schedule --for darwin = %d, %q", code, errs)
	}
	var plist struct {
		Dict struct {
			Keys    []string `xml:"key"`
			Strings []string `xml:"string"`
			Array   struct {
				Strings []string `xml:"string"`
			} `xml:"array"`
			Ints []int `xml:"integer"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal([]byte(out), &plist); err != nil {
		t.Fatalf("the plist does not parse: %v\n%s", err, out)
	}
	d := plist.Dict
	args := strings.Join(d.Array.Strings, " ")
	if len(d.Strings) != 1 || d.Strings[0] != "org.rewind.files" || args != "/usr/local/bin/rewind files backup --repo smb://u@nas/s/<r&d> --machine mac-1 --password-file /etc/rewind/p" ||
		len(d.Ints) == 0 || d.Ints[0] != 86400 || strings.Join(d.Keys, ",") != "Label,ProgramArguments,StartInterval,LowPriorityIO,Nice" {
		t.Errorf("the plist says %+v", d)
	}
}
