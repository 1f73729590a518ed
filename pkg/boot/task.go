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
	target, err := b.waitTarget(ctx, s.Target)
	if err != nil {
		return err
	}
	if s.Task == config.TaskRestore {
		medium := ""
		if b.medium != nil {
			medium = b.medium.Disk
		}
		if err := b.sys.CheckWritable(ctx, target.Path, medium); err != nil {
			return fmt.Errorf("rewind.target=%s: %w", s.Target, err)
		}
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
		if errors.Is(err, cli.ErrUnknownCommand) {
			return fmt.Errorf("unattended %s: the %s command is %w of rewind; the environment stays up", s.Task, s.Task, errNotAvailable)
		}
		return fmt.Errorf("unattended %s onto %s failed: %w", s.Task, target.Name, err)
	}

	res := map[string]any{
		"task": s.Task, "ok": true, "machine": s.Machine,
		"target": target.Path, "serial": target.Serial, "seconds": time.Since(start).Seconds(),
	}
	if s.Task == config.TaskRestore {
		res["image"] = s.Image
	}
	if last := out.last(); last != nil {
		res["summary"] = last
	}
	line, _ := json.Marshal(res)
	b.say("result %s", line)
	b.report(ctx, s.Report, line) // pxe: tell rewind pxe serve (rewind.report=), see report.go

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

// waitTarget resolves rewind.target, giving disks that are still being
// discovered (a slow controller, a USB disk) up to DiskWait to appear.
func (b *booter) waitTarget(ctx context.Context, spec string) (Disk, error) {
	medium := ""
	if b.medium != nil {
		medium = b.medium.Disk
	}
	deadline := time.Now().Add(b.opts.DiskWait)
	for {
		disks, err := b.sys.ListDisks(ctx)
		if err != nil {
			return Disk{}, fmt.Errorf("listing disks: %w", err)
		}
		target, err := ResolveTarget(spec, disks, medium)
		// "only" must not pick the first of several disks just because
		// the others are late: wait for the disk list to settle.
		if err == nil && spec != "only" || time.Now().After(deadline) || ctx.Err() != nil {
			return target, err
		}
		if spec == "only" && err == nil {
			if again, _ := b.sys.ListDisks(ctx); len(again) == len(disks) && b.settled(ctx) {
				return target, nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
		b.moreModules(ctx)
	}
}

// settled reports whether no new module loads after a short pause.
func (b *booter) settled(ctx context.Context) bool {
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	mods, _ := b.sys.LoadModules(ctx)
	if len(mods) > 0 {
		b.say("modules: loaded %d more: %s", len(mods), strings.Join(mods, " "))
		return false
	}
	return true
}

// TaskArgs is the rewind command line an unattended task runs. The password
// travels only as the path of its file. target is the disk's device path.
func TaskArgs(s config.Settings, target string) []string {
	repo := withUser(s.Repo, s.User)
	switch s.Task {
	case config.TaskCapture:
		return []string{"capture", "--repo", repo, "--machine", s.Machine, "--password-file", s.PasswordFile,
			"--note", "unattended capture from the boot environment", "--json", "--report", target}
	default:
		return []string{"restore", "--repo", repo, "--machine", s.Machine, "--image", s.Image,
			"--password-file", s.PasswordFile, "--yes", "--json", "--report", target}
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
