// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package qemutest boots a virtual machine under qemu-system-x86_64 for a
// test, reads its serial console and lets the test wait for lines on it, like
// expect. There is no KVM on the test machines: everything runs in software
// emulation, so deadlines are generous and one test package's VMs run at a
// time (a lock in out/ keeps the others waiting).
package qemutest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// VM is a running QEMU whose first serial port is the test's console.
type VM struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	start time.Time

	mu   sync.Mutex
	buf  bytes.Buffer // everything the console printed
	pos  int          // where the next Expect starts looking
	more chan struct{}
	done chan struct{}
	err  error // QEMU's exit, once done is closed
}

// Start starts qemu-system-x86_64 with args after a fixed prefix (no
// display, no default devices, serial console on a pipe). It kills QEMU when
// the test ends and, if the test failed, logs the console's last lines.
func Start(t testing.TB, args ...string) *VM {
	t.Helper()
	return StartWith(t, nil, args...)
}

// StartWith is Start with QEMU run under a wrapper command, such as
// "ip netns exec NAME" for a VM whose network is a tap device in a network
// namespace the test made.
func StartWith(t testing.TB, wrapper []string, args ...string) *VM {
	t.Helper()
	qemu := testutil.NeedTool(t, "qemu-system-x86_64")[0]
	holdVMs(t, Root(t))
	full := append([]string{"-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-user-config"}, args...)
	cmd := exec.Command(qemu, full...)
	if len(wrapper) > 0 {
		cmd = exec.Command(wrapper[0], append(append(wrapper[1:len(wrapper):len(wrapper)], qemu), full...)...)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	v := &VM{t: t, cmd: cmd, stdin: stdin, more: make(chan struct{}, 1), done: make(chan struct{})}
	t.Logf("qemu %s", strings.Join(full, " "))
	v.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", qemu, err)
	}
	go func() {
		v.err = cmd.Wait()
		pw.Close()
	}()
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := pr.Read(b)
			v.mu.Lock()
			v.buf.Write(b[:n])
			v.mu.Unlock()
			select {
			case v.more <- struct{}{}:
			default:
			}
			if err != nil {
				close(v.done)
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-v.done
		if t.Failed() {
			t.Logf("console (last lines):\n%s", tail(v.Console(), 60))
		}
		if dir := os.Getenv("REWIND_VM_LOGS"); dir != "" {
			_ = os.MkdirAll(dir, 0o755)
			_ = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".log"), []byte(v.Console()), 0o644)
		}
	})
	return v
}

// Console returns everything the console printed so far.
func (v *VM) Console() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.buf.String()
}

// Elapsed is the time since QEMU started.
func (v *VM) Elapsed() time.Duration { return time.Since(v.start) }

// Expect waits up to d for a line matching re after the previous match and
// returns its submatches. It fails the test if none comes, or QEMU exits.
func (v *VM) Expect(re string, d time.Duration) []string {
	v.t.Helper()
	m, err := v.expect(regexp.MustCompile(re), d)
	if err != nil {
		v.t.Fatalf("console: %v", err)
	}
	return m
}

// TryExpect is Expect without failing: nil if no match came within d.
func (v *VM) TryExpect(re string, d time.Duration) []string {
	m, _ := v.expect(regexp.MustCompile(re), d)
	return m
}

// ExpectNot checks that nothing the console printed so far matches re.
func (v *VM) ExpectNot(re string) {
	v.t.Helper()
	if m := regexp.MustCompile(re).FindString(v.Console()); m != "" {
		v.t.Errorf("console printed %q, matching %q, which it must not", m, re)
	}
}

func (v *VM) expect(re *regexp.Regexp, d time.Duration) ([]string, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		v.mu.Lock()
		rest := v.buf.Bytes()[v.pos:]
		if loc := re.FindSubmatchIndex(rest); loc != nil {
			var m []string
			for i := 0; i < len(loc); i += 2 {
				if loc[i] >= 0 {
					m = append(m, string(rest[loc[i]:loc[i+1]]))
				} else {
					m = append(m, "")
				}
			}
			v.pos += loc[1]
			v.mu.Unlock()
			return m, nil
		}
		v.mu.Unlock()
		select {
		case <-v.more:
		case <-v.done:
			// One last look at what came in before the end.
			v.mu.Lock()
			found := re.Match(v.buf.Bytes()[v.pos:])
			v.mu.Unlock()
			if found {
				continue
			}
			return nil, fmt.Errorf("QEMU exited (%v) before %q appeared", v.err, re)
		case <-deadline.C:
			return nil, fmt.Errorf("%q did not appear within %v", re, d)
		}
	}
}

// Send types s on the serial console.
func (v *VM) Send(s string) {
	v.t.Helper()
	if _, err := io.WriteString(v.stdin, s); err != nil {
		v.t.Fatalf("typing on the console: %v", err)
	}
}

// Wait waits up to d for QEMU to exit by itself (a guest power-off).
func (v *VM) Wait(d time.Duration) error {
	select {
	case <-v.done:
		return v.err
	case <-time.After(d):
		return fmt.Errorf("QEMU still running after %v", d)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Root returns the module's root directory, found by walking up from the
// working directory (a package directory under go test).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Make makes targets in the module root and returns the paths of files
// (relative to the root) that must exist afterwards. When the files are
// missing and tools are not required (REWIND_REQUIRE_TOOLS unset), it skips
// the test instead of starting a build of several minutes; when they exist
// it runs make anyway, which rebuilds only what changed (seconds).
func Make(t testing.TB, targets []string, files ...string) []string {
	t.Helper()
	root := Root(t)
	var paths []string
	missing := false
	for _, f := range files {
		p := filepath.Join(root, f)
		paths = append(paths, p)
		if _, err := os.Stat(p); err != nil {
			missing = true
		}
	}
	if missing && !testutil.Required() {
		t.Skipf("%s missing: run make %s first (REWIND_REQUIRE_TOOLS=1 builds it)", strings.Join(files, ", "), strings.Join(targets, " "))
	}
	testutil.NeedTool(t, "make")
	unlock := lockBuild(t, root)
	defer unlock()
	cmd := exec.Command("make", append([]string{"-s", "-C", root}, targets...)...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(targets, " "), err, tail(string(out), 40))
	}
	t.Logf("make %s: %v", strings.Join(targets, " "), time.Since(start).Round(time.Millisecond))
	return paths
}

// Rewind returns the path of out/rewind, the binary that a Make of the boot
// targets built and put in the boot environment, after checking that it runs
// and offers each of commands. A binary that does not run, or lacks a
// command, fails the test: a broken build must never pass as a skip.
func Rewind(t testing.TB, commands ...string) string {
	t.Helper()
	p := filepath.Join(Root(t), "out", "rewind")
	out, err := exec.Command(p, "help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s help: %v\n%s\n(make build rebuilds it)", p, err, out)
	}
	for _, c := range commands {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(c) + `\s`).Match(out) {
			t.Fatalf("%s help lists no %q command:\n%s", p, c, out)
		}
	}
	return p
}
