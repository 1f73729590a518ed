// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/internal/qemutest"
	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// term is a real terminal: a private tmux server with one 80×25 window.
type term struct {
	t      *testing.T
	socket string
}

func newTerm(t *testing.T, command ...string) *term {
	t.Helper()
	testutil.NeedTool(t, "tmux")
	tm := &term{t: t, socket: fmt.Sprintf("rewind-test-%d", os.Getpid())}
	args := append([]string{"-L", tm.socket, "new-session", "-d", "-x", "80", "-y", "25", "--"}, command...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	return tm
}

// screen is what the terminal shows now.
func (tm *term) screen() string {
	out, err := exec.Command("tmux", "-L", tm.socket, "capture-pane", "-p").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(capture-pane: %v: %s)", err, out)
	}
	return string(out)
}

// expect waits up to d for the screen to match re.
func (tm *term) expect(re string, d time.Duration) {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for {
		s := tm.screen()
		if rx.MatchString(s) {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the terminal did not show %q within %v:\n%s", re, d, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// send types keys: tmux key names ("Enter", "C-u", "BTab"), or text with
// literal set.
func (tm *term) send(literal bool, keys ...string) {
	tm.t.Helper()
	args := []string{"-L", tm.socket, "send-keys"}
	if literal {
		args = append(args, "-l")
	}
	if out, err := exec.Command("tmux", append(args, keys...)...).CombinedOutput(); err != nil {
		tm.t.Fatalf("tmux send-keys %v: %v\n%s", keys, err, out)
	}
}

// TestWizardInTerminal runs the rewind binary's wizard in a real terminal
// against a real Samba: a missing share and a wrong password are said in
// plain words, the NAS drops out during the restore (the progress screen
// shows the retries, and the restore finishes once the NAS is back), and
// the restored disk is identical to the captured one.
func TestWizardInTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rewind and starts Samba; -short")
	}
	srv := sambatest.Start(t, sambatest.Options{})
	dir := t.TempDir()
	rewind := filepath.Join(dir, "rewind")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-o", rewind, "./cmds/rewind")
	build.Dir = qemutest.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const size = 48 << 20
	source := testutil.SampleDisk(t, size)
	target := filepath.Join(dir, "vdb.img")
	if err := os.WriteFile(target, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "--repo", srv.URL(), "--password-file", srv.PasswordFile},
		{"capture", "--repo", srv.URL(), "--machine", "bench-7", "--note", "weekly", "--password-file", srv.PasswordFile, source},
	} {
		if out, err := exec.Command(rewind, args...).CombinedOutput(); err != nil {
			t.Fatalf("rewind %s: %v\n%s", args[0], err, out)
		}
	}

	missing := strings.TrimSuffix(srv.URL(), srv.Share) + "nosuch"
	tm := newTerm(t, "sh", "-c", rewind+` wizard --repo `+missing+` --test-disk `+target+`; echo "wizard exited $?"; sleep 600`)
	tm.expect(`> Restore this machine`, 30*time.Second)
	// Keys typed together count one press each (TestKeysTogether).
	tm.send(true, "jj")
	tm.expect(`> Capture this machine`, 10*time.Second)
	tm.send(true, "kk")
	tm.expect(`> Restore this machine`, 10*time.Second)
	tm.send(false, "Enter")
	tm.expect(`Repository: \S+nosuch`, 10*time.Second)
	tm.send(false, "Enter") // to the password field
	tm.expect(`Password  : _`, 10*time.Second)
	tm.send(true, srv.Password())
	tm.send(false, "Enter")
	tm.expect(`no share named "nosuch"`, 30*time.Second)

	// The right share, a wrong password, then the right one.
	tm.send(false, "BTab", "C-u")
	tm.send(true, srv.URL())
	tm.send(false, "Tab")
	tm.send(true, "not-"+srv.Password())
	tm.send(false, "Enter")
	tm.expect(`wrong user name\s+or password`, 30*time.Second)
	if strings.Contains(tm.screen(), srv.Password()) {
		t.Fatal("the password shows on the screen")
	}
	tm.send(true, srv.Password())
	tm.send(false, "Enter")
	tm.expect(`> bench-7 `, 30*time.Second)
	tm.send(false, "Enter")
	tm.expect(`> \d{4}-\d\d-\d\d \d\d:\d\d  [0-9a-f]{8}  weekly`, 10*time.Second)
	tm.send(false, "Enter")
	tm.expect(`> vdb\.img +48\.0 MiB`, 30*time.Second)
	tm.send(false, "Enter")
	tm.expect(`To go on, type vdb\.img and press Enter`, 30*time.Second)

	// The NAS goes away as the restore starts, and comes back.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	tm.send(true, "vdb.img")
	tm.send(false, "Enter")
	tm.expect(`RETRY `, 60*time.Second)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	tm.expect(`DONE  OK`, 3*time.Minute)
	tm.expect(`Verified: every chunk read back`, 10*time.Second)
	tm.send(false, "Enter") // Quit
	tm.expect(`wizard exited 0`, 30*time.Second)

	a, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Error("the restored disk differs from the captured one")
	}
	reports, _ := filepath.Glob(filepath.Join(srv.ShareDir, "reports", "bench-7", "*-restore-*.json"))
	if len(reports) != 1 {
		t.Errorf("reports of the restore: %v, want one", reports)
	}
}
