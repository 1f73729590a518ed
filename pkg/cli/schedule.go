// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type scheduleOptions struct {
	Repo         string
	PasswordFile string
	Machine      string
	Every        string
	For          string
	Install      bool
	Exe          string
	UnitDir      string // where --install puts systemd units (tests)
}

func newFilesScheduleCommand(o OS) *cobra.Command {
	var opt scheduleOptions
	cmd := &cobra.Command{
		Use:   "schedule --repo REPO --password-file FILE [--machine NAME] [--every 1h|daily|DURATION] [--install]",
		Short: "print (or install) what runs files backup by itself: a systemd timer, a Task Scheduler task, a launchd job",
		Long: "Print the definition that runs 'rewind files backup' every hour (or day, or\n" +
			"DURATION) on this system: a systemd service and timer on Linux, a Task Scheduler\n" +
			"task (XML, for schtasks /create /xml) on Windows, a launchd job (plist) on macOS.\n" +
			"--for linux|windows|darwin prints another system's. On Linux, --install writes the\n" +
			"units to /etc/systemd/system and starts the timer. The definition names the\n" +
			"password file, never the password; keep the file readable by root (SYSTEM) only.",
		Example: "  rewind files schedule --repo smb://rewind@nas.local/backup/shop --password-file /etc/rewind/password --install\n" +
			"  rewind files schedule --repo smb://rewind@nas/backup/shop --password-file C:\\ProgramData\\rewind\\password --for windows > rewind-files.xml",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opt.Repo == "" || opt.PasswordFile == "" {
				return fmt.Errorf("files schedule needs --repo REPO and --password-file FILE (a scheduled backup has nobody to ask): %w", ErrUsage)
			}
			var err error
			if opt.Machine, err = machineOrHost(opt.Machine); err != nil {
				return err
			}
			return runFilesSchedule(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opt.Repo, "repo", "", "the repository `REPO` the backups go to")
	fs.StringVar(&opt.PasswordFile, "password-file", "", "the `FILE` holding the share's password, as the scheduled run sees it")
	fs.StringVar(&opt.Machine, "machine", "", "the machine's `NAME` in the repository (default: the host name)")
	fs.StringVar(&opt.Every, "every", "1h", "how often: 1h (hourly), daily, or a `DURATION` of at least 15m (30m, 4h)")
	fs.StringVar(&opt.For, "for", runtime.GOOS, "the `SYSTEM` to print for: linux, windows or darwin")
	fs.BoolVar(&opt.Install, "install", false, "install it (Linux: systemd units in /etc/systemd/system, timer started)")
	fs.StringVar(&opt.Exe, "rewind", "", "the `PATH` of rewind as the scheduled run sees it (default: this one)")
	return cmd
}

// scheduleEvery parses --every: hourly, daily, or a duration of at least
// 15 minutes. daily is returned as 24h.
func scheduleEvery(s string) (time.Duration, error) {
	switch s {
	case "hourly":
		return time.Hour, nil
	case "daily":
		return 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 15*time.Minute || d > 7*24*time.Hour {
		return 0, fmt.Errorf("--every %q: want 1h, daily, or a duration from 15m to 168h: %w", s, ErrUsage)
	}
	return d, nil
}

func runFilesSchedule(ctx context.Context, opt scheduleOptions, o OS) error {
	every, err := scheduleEvery(opt.Every)
	if err != nil {
		return err
	}
	if opt.Exe == "" {
		if opt.Exe, err = os.Executable(); err != nil {
			return fmt.Errorf("finding rewind's own path: %w; give --rewind PATH", err)
		}
	}
	args := []string{"files", "backup", "--repo", opt.Repo, "--machine", opt.Machine, "--password-file", opt.PasswordFile}
	switch opt.For {
	case "linux":
		service, timer := systemdUnits(opt.Exe, args, every)
		if !opt.Install {
			fmt.Fprintf(o.Stdout, "# /etc/systemd/system/rewind-files.service\n%s\n# /etc/systemd/system/rewind-files.timer\n%s", service, timer)
			fmt.Fprintln(o.Stdout, "# then: systemctl daemon-reload && systemctl enable --now rewind-files.timer")
			return nil
		}
		return installSystemd(ctx, opt, service, timer, o)
	case "windows":
		if opt.Install {
			return fmt.Errorf("--install is for Linux; on Windows save this and run: schtasks /create /tn rewind-files /xml FILE: %w", ErrUsage)
		}
		b, err := taskXML(opt.Exe, args, every)
		if err != nil {
			return err
		}
		_, err = o.Stdout.Write(b)
		return err
	case "darwin":
		if opt.Install {
			return fmt.Errorf("--install is for Linux; on macOS save this as /Library/LaunchDaemons/org.rewind.files.plist and run: launchctl load -w that file: %w", ErrUsage)
		}
		b, err := launchdPlist(opt.Exe, args, every)
		if err != nil {
			return err
		}
		_, err = o.Stdout.Write(b)
		return err
	default:
		return fmt.Errorf("--for %q: want linux, windows or darwin: %w", opt.For, ErrUsage)
	}
}

// systemdQuote quotes a word of ExecStart= (systemd.service(5)): double
// quotes, with backslash escapes; '%' doubled, '$' doubled.
func systemdQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$", "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// systemdUnits returns the service and timer that run exe with args every
// interval.
func systemdUnits(exe string, args []string, every time.Duration) (service, timer string) {
	var cmd []string
	for _, a := range append([]string{exe}, args...) {
		cmd = append(cmd, systemdQuote(a))
	}
	service = "[Unit]\n" +
		"Description=rewind: back up user files\n" +
		"Wants=network-online.target\n" +
		"After=network-online.target\n\n" +
		"[Service]\n" +
		"Type=oneshot\n" +
		"ExecStart=" + strings.Join(cmd, " ") + "\n" +
		"Nice=10\n" +
		"IOSchedulingClass=idle\n"
	when := fmt.Sprintf("OnBootSec=10min\nOnUnitActiveSec=%ds\n", int(every.Seconds()))
	switch every {
	case time.Hour:
		when = "OnCalendar=hourly\n"
	case 24 * time.Hour:
		when = "OnCalendar=daily\n"
	}
	timer = "[Unit]\n" +
		"Description=rewind: back up user files every " + every.String() + "\n\n" +
		"[Timer]\n" + when +
		"Persistent=true\n" +
		"RandomizedDelaySec=5min\n\n" +
		"[Install]\n" +
		"WantedBy=timers.target\n"
	return service, timer
}

func installSystemd(ctx context.Context, opt scheduleOptions, service, timer string, o OS) error {
	dir := opt.UnitDir
	if dir == "" {
		dir = "/etc/systemd/system"
	}
	for name, text := range map[string]string{"rewind-files.service": service, "rewind-files.timer": timer} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("installing the schedule: %w", err)
		}
	}
	if opt.UnitDir != "" {
		return nil
	}
	for _, c := range [][]string{{"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", "rewind-files.timer"}} {
		if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, strings.TrimSpace(string(out)))
		}
	}
	fmt.Fprintf(o.Stdout, "installed %s/rewind-files.service and .timer; 'systemctl list-timers rewind-files' shows the next run\n", dir)
	return nil
}

// Task is a Windows Task Scheduler definition (the schema's required
// elements and what rewind sets).
type Task struct {
	XMLName          xml.Name `xml:"Task"`
	Version          string   `xml:"version,attr"`
	Xmlns            string   `xml:"xmlns,attr"`
	RegistrationInfo struct {
		Description string
	}
	Triggers struct {
		TimeTrigger struct {
			StartBoundary string
			Enabled       bool
			Repetition    *struct {
				Interval string
			} `xml:",omitempty"`
		}
	}
	Principals struct {
		Principal struct {
			ID       string `xml:"id,attr"`
			UserID   string `xml:"UserId"`
			RunLevel string
		}
	}
	Settings struct {
		MultipleInstancesPolicy    string
		DisallowStartIfOnBatteries bool
		StartWhenAvailable         bool
		RunOnlyIfNetworkAvailable  bool
		ExecutionTimeLimit         string
		Enabled                    bool
	}
	Actions struct {
		Context string `xml:",attr"`
		Exec    struct {
			Command   string
			Arguments string
		}
	}
}

// windowsQuote quotes an argument for a Windows command line (the rules
// CommandLineToArgvW and Go's os/exec follow).
func windowsQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for _, r := range s {
		switch r {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
			b.WriteRune(r)
			slashes = 0
			continue
		default:
			slashes = 0
		}
		b.WriteRune(r)
	}
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}

// taskXML returns the Task Scheduler definition that runs exe with args
// every interval as SYSTEM.
func taskXML(exe string, args []string, every time.Duration) ([]byte, error) {
	t := Task{Version: "1.2", Xmlns: "http://schemas.microsoft.com/windows/2004/02/mit/task"}
	t.RegistrationInfo.Description = "rewind: back up user files"
	t.Triggers.TimeTrigger.StartBoundary = "2026-01-01T00:05:00"
	t.Triggers.TimeTrigger.Enabled = true
	t.Triggers.TimeTrigger.Repetition = &struct{ Interval string }{Interval: isoDuration(every)}
	t.Principals.Principal.ID = "Author"
	t.Principals.Principal.UserID = "S-1-5-18" // SYSTEM: reads every profile
	t.Principals.Principal.RunLevel = "HighestAvailable"
	t.Settings.MultipleInstancesPolicy = "IgnoreNew"
	t.Settings.StartWhenAvailable = true
	t.Settings.RunOnlyIfNetworkAvailable = true
	t.Settings.ExecutionTimeLimit = "PT12H"
	t.Settings.Enabled = true
	t.Actions.Context = "Author"
	t.Actions.Exec.Command = exe
	var q []string
	for _, a := range args {
		q = append(q, windowsQuote(a))
	}
	t.Actions.Exec.Arguments = strings.Join(q, " ")
	b, err := xml.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// isoDuration writes d as an ISO 8601 duration (PT1H, P1D, PT30M).
func isoDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("P%dD", d/(24*time.Hour))
	}
	s := "PT"
	if h := d / time.Hour; h > 0 {
		s += fmt.Sprintf("%dH", h)
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		s += fmt.Sprintf("%dM", m)
	}
	return s
}

// launchdPlist returns the launchd job that runs exe with args every
// interval.
func launchdPlist(exe string, args []string, every time.Duration) ([]byte, error) {
	var b strings.Builder
	esc := func(s string) string {
		var w strings.Builder
		xml.EscapeText(&w, []byte(s))
		return w.String()
	}
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n")
	b.WriteString("  <key>Label</key>\n  <string>org.rewind.files</string>\n")
	b.WriteString("  <key>ProgramArguments</key>\n  <array>\n")
	for _, a := range append([]string{exe}, args...) {
		b.WriteString("    <string>" + esc(a) + "</string>\n")
	}
	b.WriteString("  </array>\n")
	fmt.Fprintf(&b, "  <key>StartInterval</key>\n  <integer>%d</integer>\n", int(every.Seconds()))
	b.WriteString("  <key>LowPriorityIO</key>\n  <true/>\n")
	b.WriteString("  <key>Nice</key>\n  <integer>10</integer>\n")
	b.WriteString("</dict>\n</plist>\n")
	return []byte(b.String()), nil
}
