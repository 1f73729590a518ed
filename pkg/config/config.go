// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package config holds the boot environment's settings and reads them from
// their three sources, later ones overriding earlier ones:
//
//  1. /etc/rewind/rewind.conf in the initramfs (a build can bake one in),
//  2. rewind.conf on the boot medium (the USB stick's FAT partition),
//  3. the kernel command line (rewind.KEY=VALUE).
//
// rewind.conf is plain "key = value" lines; '#' starts a comment. Its keys
// are the command line's without the "rewind." prefix, plus password_file.
// A password is never accepted as a value: not on the kernel command line
// (which any local user can read in /proc/cmdline and which boot menus and
// PXE servers log), and not in rewind.conf either; it travels only as the path
// of a file that holds it. Errors about a refused password never quote the
// value.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Task is what the environment does once it is up.
type Task string

// The tasks. Wizard is the default.
const (
	TaskWizard  Task = "wizard"  // the interactive wizard (a later version; a shell until then)
	TaskRestore Task = "restore" // unattended restore of Image onto Target
	TaskCapture Task = "capture" // unattended capture of Target into the repository
	TaskShell   Task = "shell"   // a shell on the console, nothing else
)

// After is what the environment does after an unattended task succeeded.
type After string

// The actions after a task. Wait is the default.
const (
	AfterWait     After = "wait"     // stay up with a shell on the console
	AfterReboot   After = "reboot"   // reboot the machine
	AfterPoweroff After = "poweroff" // power the machine off
)

// Settings are the boot environment's settings. The zero value is not
// useful; start from Default. Later work (wizard choices, per-machine PXE
// tasks) extends this struct: add a field, its key in keys below, and a case
// in set.
type Settings struct {
	// Repo is the repository URL, e.g. smb://user@nas:445/backups, or a
	// local path. Key "repo".
	Repo string
	// User is the user name for the repository when Repo does not carry
	// one. Key "user".
	User string
	// Machine names the machine in the repository whose images are restored
	// or under which a capture is stored. Key "machine".
	Machine string
	// Task is what to do once up. Key "task".
	Task Task
	// Image is the image id to restore, or "latest". Key "image".
	Image string
	// Files is what a restore replays after the image: "latest" (the
	// machine's newest file snapshot, when one was taken after the image),
	// "none", or a file snapshot id (at least 4 hex digits), which must
	// exist and be newer than the image. Key "files".
	Files string
	// Target names the disk to write (restore) or read (capture): a kernel
	// name ("nvme0n1", "sda"), "serial:SERIAL", or "only" for the single
	// disk that is not the boot medium. Key "target".
	Target string
	// After is what to do after an unattended task succeeded. Key "after".
	After After
	// PasswordFile is the path of a file holding the repository password,
	// in the initramfs or on the boot medium (a relative path is relative
	// to the directory of the rewind.conf that names it). Key
	// "password_file"; never taken from the kernel command line.
	PasswordFile string
	// Medium is the volume label of the boot medium's FAT partition. The
	// USB image's boot menu sets it (rewind.medium=REWIND) so that boot
	// waits for the USB stick to appear. Key "medium".
	Medium string
	// Report is an http:// URL the result line of an unattended task is
	// posted to: `rewind pxe serve` puts its /done/MAC URL there, and
	// clears a one-shot task when it arrives. Not a secret. Key "report".
	Report string

	// Origin maps each key that was set to where its value came from
	// ("/etc/rewind/rewind.conf line 3", "kernel command line").
	Origin map[string]string
}

// Default returns the settings before any source is read.
func Default() Settings {
	return Settings{Task: TaskWizard, Image: "latest", Files: FilesLatest, After: AfterWait, Origin: map[string]string{}}
}

// keys are the keys that rewind.conf and the kernel command line accept.
var keys = []string{"repo", "user", "machine", "task", "image", "files", "target", "after", "password_file", "medium", "report"}

// cmdlineKeys are the keys accepted on the kernel command line.
var cmdlineKeys = []string{"repo", "user", "machine", "task", "image", "files", "target", "after", "medium", "report"}

// The values of the files key that are not a snapshot id.
const (
	FilesLatest = "latest" // the newest file snapshot taken after the image, if any
	FilesNone   = "none"   // the image only
)

// ErrPassword marks a refused password: on the kernel command line or as a
// value in rewind.conf. The error never contains the password.
var ErrPassword = errors.New("a password is never accepted here")

// ErrSetting marks an unknown key or a bad value.
var ErrSetting = errors.New("bad setting")

// looksLikeSecret reports whether a key names a password or similar secret.
func looksLikeSecret(key string) bool {
	return secretWord(key) != ""
}

// secretWord returns the word that makes key look like a secret, or "".
func secretWord(key string) string {
	k := strings.ToLower(key)
	for _, s := range []string{"pass", "pwd", "secret", "token", "credential"} {
		if strings.Contains(k, s) {
			return s
		}
	}
	return ""
}

// Pair is one key and value read from a source, with where it was.
type Pair struct {
	Key, Value string
	// Where is the source and position, e.g. "rewind.conf line 4".
	Where string
}

// set applies one pair. dir is the directory relative paths are resolved
// against ("" leaves them as they are).
func (s *Settings) set(p Pair, dir string) error {
	v := p.Value
	switch p.Key {
	case "repo":
		if urlHasPassword(v) {
			return fmt.Errorf("%s: the repo URL carries a password; drop it from the URL and name a file holding it with password_file: %w", p.Where, ErrPassword)
		}
		s.Repo = v
	case "user":
		s.User = v
	case "machine":
		s.Machine = v
	case "task":
		t := Task(strings.ToLower(v))
		if !slices.Contains([]Task{TaskWizard, TaskRestore, TaskCapture, TaskShell}, t) {
			return fmt.Errorf("%s: task %q is not one of wizard, restore, capture, shell: %w", p.Where, v, ErrSetting)
		}
		s.Task = t
	case "image":
		if v == "" {
			v = "latest"
		}
		s.Image = v
	case "files":
		f, err := ParseFiles(v)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Where, err)
		}
		s.Files = f
	case "target":
		s.Target = v
	case "after":
		a := After(strings.ToLower(v))
		if !slices.Contains([]After{AfterWait, AfterReboot, AfterPoweroff}, a) {
			return fmt.Errorf("%s: after %q is not one of reboot, poweroff, wait: %w", p.Where, v, ErrSetting)
		}
		s.After = a
	case "password_file":
		if v != "" && dir != "" && !path.IsAbs(v) {
			v = path.Join(dir, v)
		}
		s.PasswordFile = v
	case "medium":
		s.Medium = v
	case "report":
		u, err := url.Parse(v)
		if v != "" && (err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil) {
			// The value is not quoted: a user part may hold a password.
			return fmt.Errorf("%s: report is not an http:// URL without a user (rewind pxe serve writes it as http://SERVER:PORT/done/MAC): %w", p.Where, ErrSetting)
		}
		s.Report = v
	default:
		return fmt.Errorf("%s: unknown setting %q (known: %s): %w", p.Where, p.Key, strings.Join(keys, ", "), ErrSetting)
	}
	if s.Origin == nil {
		s.Origin = map[string]string{}
	}
	s.Origin[p.Key] = p.Where
	return nil
}

// ApplyConf parses a rewind.conf named name (for messages) and applies its
// settings. dir is the directory holding it, against which a relative
// password_file is resolved. On error nothing is applied.
func (s *Settings) ApplyConf(data []byte, name, dir string) error {
	pairs, err := ParseConf(data, name)
	if err != nil {
		return err
	}
	return s.apply(pairs, dir)
}

// ApplyCmdline parses a kernel command line and applies its rewind.* keys.
// On error nothing is applied.
func (s *Settings) ApplyCmdline(cmdline string) error {
	pairs, err := ParseCmdline(cmdline)
	if err != nil {
		return err
	}
	return s.apply(pairs, "")
}

func (s *Settings) apply(pairs []Pair, dir string) error {
	n := s.clone()
	for _, p := range pairs {
		if err := n.set(p, dir); err != nil {
			return err
		}
	}
	*s = n
	return nil
}

func (s Settings) clone() Settings {
	c := s
	c.Origin = make(map[string]string, len(s.Origin))
	for k, v := range s.Origin {
		c.Origin[k] = v
	}
	return c
}

// Check reports what is missing for the task to run unattended.
func (s Settings) Check() error {
	if s.Task != TaskRestore && s.Task != TaskCapture {
		return nil
	}
	var missing []string
	if s.Repo == "" {
		missing = append(missing, "repo")
	}
	if s.Machine == "" {
		missing = append(missing, "machine")
	}
	if s.Target == "" {
		missing = append(missing, "target")
	}
	if s.PasswordFile == "" {
		missing = append(missing, "password_file (in rewind.conf)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("task %s needs %s; set them in rewind.conf on the boot medium or as rewind.KEY= on the kernel command line: %w",
			s.Task, strings.Join(missing, ", "), ErrSetting)
	}
	return nil
}

// Summary is a one-line description of the settings, safe to print: it holds
// no password, only the password file's path.
func (s Settings) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "task=%s", s.Task)
	for _, kv := range [][2]string{
		{"repo", s.Repo}, {"user", s.User}, {"machine", s.Machine}, {"image", s.Image}, {"files", s.filesShown()},
		{"target", s.Target}, {"after", string(s.After)}, {"password_file", s.PasswordFile}, {"report", s.Report},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	return b.String()
}

// filesShown is the files setting where it matters: for a restore.
func (s Settings) filesShown() string {
	if s.Task != TaskRestore {
		return ""
	}
	return s.Files
}

// ParseFiles checks a value of the files key (a PXE task's too) and
// returns it as the settings hold it: "" is latest, case is folded.
func ParseFiles(v string) (string, error) {
	f := strings.ToLower(v)
	if f == "" {
		f = FilesLatest
	}
	if f != FilesLatest && f != FilesNone && !isSnapshotID(f) {
		return "", fmt.Errorf("files %q is not latest, none, or a file snapshot id (4 to 64 hex digits, as rewind snapshots lists them): %w", v, ErrSetting)
	}
	return f, nil
}

// isSnapshotID reports whether v can be a snapshot id or its prefix.
func isSnapshotID(v string) bool {
	if len(v) < 4 || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// urlHasPassword reports whether a URL's user part holds a password, also
// one hidden by percent-encoding (user%3Apassword, encoded more than once).
func urlHasPassword(v string) bool {
	_, rest, ok := strings.Cut(v, "://")
	if !ok {
		return false
	}
	authority, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return false
	}
	user := authority[:at]
	for range 4 {
		if strings.Contains(user, ":") {
			return true
		}
		u, err := url.PathUnescape(user)
		if err != nil || u == user {
			return false
		}
		user = u
	}
	return true // still encoded after four rounds: nobody's user name
}
