// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package sambatest starts a real Samba smbd on 127.0.0.1 for a test, through
// scripts/samba (the same script the demo and the benchmarks use), and stops
// it when the test ends.
package sambatest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// Server is a running private smbd.
type Server struct {
	Dir          string // holds smb.conf, the password database, logs
	ShareDir     string // the shared folder on this machine
	Share        string // the share's name
	User         string
	PasswordFile string // holds the user's password, mode 0600
	Port         int
	Addr         string // 127.0.0.1 unless Options.Addr
	encrypt      bool
	script       string
	netns        string
}

// Options change how the server is set up.
type Options struct {
	// Encrypt makes the server require SMB3 encryption.
	Encrypt bool
	// Netns and Addr run the server in a network namespace the test
	// made, listening on Addr there (port 445), instead of on 127.0.0.1.
	Netns, Addr string
}

// Start starts a server that lives until the test ends. It skips the test
// when smbd is missing or the test does not run as root (fails instead under
// REWIND_REQUIRE_TOOLS=1).
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "smbd", "smbpasswd")
	script, err := findScript()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: t.TempDir(), Share: "rewind", encrypt: opt.Encrypt, script: script, netns: opt.Netns, Addr: "127.0.0.1"}
	port := ""
	if opt.Netns != "" {
		s.Addr, port = opt.Addr, "445"
	}
	s.ShareDir = filepath.Join(s.Dir, "share")
	s.PasswordFile = filepath.Join(s.Dir, "password")
	if err := s.start(port); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	user, err := os.ReadFile(filepath.Join(s.Dir, "user"))
	if err != nil {
		t.Fatal(err)
	}
	s.User = strings.TrimSpace(string(user))
	return s
}

func (s *Server) start(port string) error {
	args := []string{"start", s.Dir, port}
	if s.encrypt {
		args = append(args, "encrypt")
	}
	cmd := exec.Command(s.script, args...)
	if s.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", s.netns, "env", "SAMBA_ADDR=" + s.Addr, s.script}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("starting smbd: %w: %s", err, out)
	}
	var pid int
	if _, err := fmt.Sscanf(lastLine(string(out)), "port=%d pid=%d", &s.Port, &pid); err != nil {
		return fmt.Errorf("starting smbd: unexpected output %q", out)
	}
	return nil
}

// Stop stops the server; Restart starts it again on the same port, as a NAS
// that reboots.
func (s *Server) Stop() error {
	out, err := exec.Command(s.script, "stop", s.Dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("stopping smbd: %w: %s", err, out)
	}
	return nil
}

// Restart starts a stopped server again on the same port.
func (s *Server) Restart() error {
	return s.start(fmt.Sprint(s.Port))
}

// URL returns the share's smb:// URL with the user and without a password.
func (s *Server) URL() string {
	return fmt.Sprintf("smb://%s@%s:%d/%s", s.User, s.Addr, s.Port, s.Share)
}

// Password returns the user's password.
func (s *Server) Password() string {
	b, _ := os.ReadFile(s.PasswordFile)
	return strings.TrimSpace(string(b))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// findScript finds scripts/samba by walking up from the working directory
// (a package directory under go test) to the module root.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "samba"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("sambatest: no go.mod above the working directory")
		}
		dir = parent
	}
}
