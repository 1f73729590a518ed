// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rewind-backup/rewind/pkg/cli"
	"github.com/rewind-backup/rewind/pkg/config"
)

// unattended runs a restore or capture as settings describe it, prints the
// result line, and does settings.After. Any problem is returned before
// anything is written.
func (b *booter) unattended(ctx context.Context, s config.Settings) error {
	if err := s.Check(); err != nil {
		return err
	}
	disks, err := b.sys.ListDisks(ctx)
	if err != nil {
		return fmt.Errorf("listing disks: %w", err)
	}
	medium := ""
	if b.medium != nil {
		medium = b.medium.Disk
	}
	target, err := ResolveTarget(s.Target, disks, medium)
	if err != nil {
		return err
	}
	if pw, err := b.sys.ReadFile(s.PasswordFile); err != nil {
		return fmt.Errorf("password_file %s cannot be read (%v); put the NAS password in that file on the boot medium", s.PasswordFile, err)
	} else if len(bytes.TrimSpace(pw)) == 0 {
		return fmt.Errorf("password_file %s is empty; put the NAS password in it", s.PasswordFile)
	}

	args := TaskArgs(s, target.Path)
	if s.Task == config.TaskCapture {
		b.say("capture: %s into machine %s", target, s.Machine)
	} else {
		b.say("restore: machine %s image %s onto %s", s.Machine, s.Image, target)
	}
	start := time.Now()
	out := &lastJSON{w: b.w}
	err = b.opts.CLI(ctx, args, cli.OS{Stdin: b.opts.Stdin, Stdout: out, Stderr: b.w})
	if err != nil {
		if errors.Is(err, cli.ErrUsage) && strings.Contains(err.Error(), "unknown command") {
			return fmt.Errorf("unattended %s: the %s command is %w of rewind; the environment stays up", s.Task, s.Task, errNotAvailable)
		}
		return fmt.Errorf("unattended %s onto %s failed: %w", s.Task, target.Name, err)
	}

	res := map[string]any{
		"task": s.Task, "ok": true, "machine": s.Machine, "image": s.Image,
		"target": target.Path, "serial": target.Serial, "seconds": time.Since(start).Seconds(),
	}
	if last := out.last(); last != nil {
		res["summary"] = last
	}
	line, _ := json.Marshal(res)
	b.say("result %s", line)

	switch s.After {
	case config.AfterReboot:
		b.say("rebooting")
		return b.sys.Reboot()
	case config.AfterPoweroff:
		b.say("powering off")
		return b.sys.PowerOff()
	}
	return nil
}

// TaskArgs is the rewind command line an unattended task runs. The password
// travels only as the path of its file. target is the disk's device path.
func TaskArgs(s config.Settings, target string) []string {
	repo := withUser(s.Repo, s.User)
	switch s.Task {
	case config.TaskCapture:
		return []string{"capture", "--repo", repo, "--machine", s.Machine, "--password-file", s.PasswordFile,
			"--note", "unattended capture from the boot environment", "--json", target}
	default:
		return []string{"restore", "--repo", repo, "--machine", s.Machine, "--image", s.Image,
			"--password-file", s.PasswordFile, "--yes", "--json", target}
	}
}

// withUser puts user into an smb:// URL that names none.
func withUser(repo, user string) string {
	if user == "" {
		return repo
	}
	u, err := url.Parse(repo)
	if err != nil || u.Scheme == "" || u.User != nil {
		return repo
	}
	u.User = url.User(user)
	return u.String()
}

// lastJSON passes output through to w and remembers the last line that is
// a JSON object (the CLI's --json summary).
type lastJSON struct {
	w    io.Writer
	mu   sync.Mutex
	buf  []byte
	line json.RawMessage
}

func (l *lastJSON) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.see(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lastJSON) see(line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) > 0 && line[0] == '{' && json.Valid(line) {
		l.line = append(json.RawMessage(nil), line...)
	}
}

func (l *lastJSON) last() json.RawMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.see(l.buf)
	return l.line
}
