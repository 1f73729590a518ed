// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package testutil holds helpers shared by rewind's tests: finding the real
// tools a test drives (mkfs, smbd, qemu) and deciding what a missing one
// means.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether missing tools and privileges fail tests instead
// of skipping them. `make test` sets REWIND_REQUIRE_TOOLS=1, so that CI never
// passes by skipping; a plain `go test` on a workstation skips.
func Required() bool {
	return os.Getenv("REWIND_REQUIRE_TOOLS") == "1"
}

// NeedTool returns the path of each named program, or skips (fails under
// REWIND_REQUIRE_TOOLS=1) the test when one is missing. Looks in PATH and in
// /sbin and /usr/sbin, where Debian keeps mkfs and smbd.
func NeedTool(t testing.TB, names ...string) []string {
	t.Helper()
	var paths []string
	for _, n := range names {
		p, err := LookPath(n)
		if err != nil {
			Missing(t, "%s is not installed (scripts/deps installs it)", n)
		}
		paths = append(paths, p)
	}
	return paths
}

// LookPath finds a program in PATH, /usr/sbin or /sbin.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin/", "/sbin/"} {
		if fi, err := os.Stat(d + name); err == nil && fi.Mode()&0o111 != 0 {
			return d + name, nil
		}
	}
	return exec.LookPath(name)
}

// NeedRoot skips (fails under REWIND_REQUIRE_TOOLS=1) a test that needs root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "test needs root")
	}
}

// Missing skips the test for a reason given by format and args, or fails it
// under REWIND_REQUIRE_TOOLS=1: for what a test needs from the machine
// beyond a tool or root.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
