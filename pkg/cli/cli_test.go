// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// runErr runs the command line with buffers and returns stdout, stderr and
// Run's error.
func runErr(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), args, OS{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	return stdout.String(), stderr.String(), err
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"restore", "--version"}, {"inspect", "--version"}} {
		out, errs, err := runErr(args...)
		if err != nil || out != "rewind "+Version+"\n" || errs != "" {
			t.Errorf("Run(%q) = %v, stdout %q, stderr %q; want nil, %q, nothing", args, err, out, errs, "rewind "+Version+"\n")
		}
	}
}

// TestHelp: every way of asking for help prints, on stdout, the usage line
// first, then an example, then the flags in their --flag form; and succeeds.
func TestHelp(t *testing.T) {
	restoreUsage := "Usage: rewind restore --repo REPO --machine NAME [flags] DISK...\n"
	for _, tc := range []struct {
		args  []string
		usage string
		want  []string
	}{
		{[]string{"--help"}, "Usage: rewind COMMAND [flags]\n", []string{"\nCommands:\n", "  restore ", "  completion ", "--version"}},
		{[]string{"-h"}, "Usage: rewind COMMAND [flags]\n", []string{"\nCommands:\n"}},
		{[]string{"help"}, "Usage: rewind COMMAND [flags]\n", []string{"\nCommands:\n"}},
		{[]string{"help", "restore"}, restoreUsage, nil},
		{[]string{"restore", "-h"}, restoreUsage, nil},
		{[]string{"restore", "--help"}, restoreUsage, nil},
		{[]string{"restore", "--repo", "x", "--help", "/dev/sda"}, restoreUsage, nil},
		{[]string{"capture", "--help"}, "Usage: rewind capture --repo REPO --machine NAME [flags] DISK...\n", nil},
		{[]string{"verify", "--help"}, "Usage: rewind verify --repo REPO --machine NAME [flags] DISK...\n", nil},
		{[]string{"inspect", "--help"}, "Usage: rewind inspect [flags] DISK\n", []string{"      --json "}},
		{[]string{"init", "--help"}, "Usage: rewind init --repo REPO [flags]\n", []string{"      --chunk-size BYTES "}},
		{[]string{"completion", "--help"}, "Usage: rewind completion bash|zsh|fish|powershell\n", []string{"/etc/bash_completion.d/rewind"}},
	} {
		out, errs, err := runErr(tc.args...)
		if err != nil || errs != "" {
			t.Errorf("Run(%q) = %v, stderr %q; want nil, nothing", tc.args, err, errs)
		}
		if !strings.HasPrefix(out, tc.usage) {
			t.Errorf("Run(%q) printed %q..., want it to start with %q", tc.args, firstLine(out), tc.usage)
		}
		if !strings.Contains(out, "\nExample:\n  rewind ") {
			t.Errorf("Run(%q) printed no example:\n%s", tc.args, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("Run(%q) lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
}

// TestHelpEveryVerb: each verb's help has its usage line, an example that
// runs that verb, and flags only in the --flag form.
func TestHelpEveryVerb(t *testing.T) {
	singleDash := regexp.MustCompile(`(?m)^\s+-[a-z][a-z-]+\b`)
	for _, c := range newRoot(OS{}).Commands() {
		verb := c.Name()
		out, _, err := runErr(verb, "--help")
		if err != nil {
			t.Errorf("rewind %s --help = %v", verb, err)
			continue
		}
		if !strings.HasPrefix(out, "Usage: rewind "+verb) {
			t.Errorf("rewind %s --help starts %q, want the usage line", verb, firstLine(out))
		}
		if !strings.Contains(out, "Example:\n  rewind "+verb) {
			t.Errorf("rewind %s --help has no example of rewind %s:\n%s", verb, verb, out)
		}
		if !strings.Contains(out, "  -h, --help ") {
			t.Errorf("rewind %s --help does not list --help:\n%s", verb, out)
		}
		if m := singleDash.FindString(out); m != "" {
			t.Errorf("rewind %s --help lists a long flag with one dash: %q", verb, m)
		}
	}
	out, _, _ := runErr("restore", "--help")
	for _, w := range []string{"      --machine NAME ", "      --yes ", "      --image ID ", "      --repo REPO ", "      --password-file FILE ", "DISK"} {
		if !strings.Contains(out, w) {
			t.Errorf("rewind restore --help lacks %q:\n%s", w, out)
		}
	}
}

// TestUsageErrors: a command line rewind cannot follow fails with exit
// code 2 and one line that says what is wrong and where to look.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []string
		unknown bool // ErrUnknownCommand
	}{
		{[]string{"restore", "--bogus", "/dev/sda"}, []string{"--bogus", "rewind restore --help"}, false},
		{[]string{"restore", "--conns", "many"}, []string{`"many"`, "--conns", "rewind restore --help"}, false},
		{[]string{"restore", "--repo"}, []string{"--repo", "needs an argument"}, false},
		{[]string{"init", "-repo", "/tmp/x"}, []string{"-repo", "two dashes, --repo", "rewind init --help"}, false},
		{[]string{"restore", "--repo", "/tmp/x", "--machine", "pc1"}, []string{"DISK", "rewind restore --help"}, false},
		{[]string{"check", "--repo", "/tmp/x", "read-data"}, []string{`"read-data"`, "no arguments"}, false},
		{[]string{"inspect"}, []string{"one DISK"}, false},
		{[]string{"completion", "tcsh"}, []string{`"tcsh"`, "bash, zsh, fish and powershell"}, false},
		{[]string{}, []string{"no command given"}, false},
		{[]string{"restor", "--repo", "/tmp/x"}, []string{`"restor"`, `did you mean "restore"`, "rewind --help"}, true},
		{[]string{"help", "nosuch"}, []string{`"nosuch"`}, true},
		{[]string{"nosuch"}, []string{`"nosuch"`}, true},
	} {
		_, _, err := runErr(tc.args...)
		if ExitCode(err) != 2 {
			t.Errorf("Run(%q) = %v, exit code %d; want 2", tc.args, err, ExitCode(err))
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") {
			t.Errorf("Run(%q) = %q, want one line", tc.args, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Run(%q) = %q, want %q in it", tc.args, err, w)
			}
		}
		if got := errors.Is(err, ErrUnknownCommand); got != tc.unknown {
			t.Errorf("Run(%q) = %v: errors.Is(ErrUnknownCommand) = %v, want %v", tc.args, err, got, tc.unknown)
		}
	}
	// nil arguments are no arguments, never the test binary's own.
	if err := Run(context.Background(), nil, OS{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}); !errors.Is(err, ErrUsage) {
		t.Errorf("Run(nil) = %v, want a usage error", err)
	}
}

// TestCompletion: the scripts for the four shells come out, each in its
// shell's own form; bash accepts its script; and the completions the
// scripts ask rewind for name the verbs and flags.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "complete -o default -F __start_rewind rewind",
		"zsh":        "#compdef rewind",
		"fish":       "complete -c rewind ",
		"powershell": "Register-ArgumentCompleter -CommandName 'rewind'",
	} {
		out, errs, err := runErr("completion", shell)
		if err != nil || errs != "" || !strings.Contains(out, want) {
			t.Errorf("rewind completion %s = %v, stderr %q, %d bytes; want nil, nothing, a script with %q", shell, err, errs, len(out), want)
		}
		if shell == "bash" {
			cmd := exec.Command("bash", "-n")
			cmd.Stdin = strings.NewReader(out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("bash -n on the bash completion script: %v\n%s", err, b)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "rest"}, "restore\t"},
		{[]string{"__complete", "restore", "--mach"}, "--machine\t"},
		{[]string{"__complete", "completion", ""}, "powershell"},
		{[]string{"__complete", "help", "insp"}, "inspect\t"},
	} {
		out, _, err := runErr(tc.args...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("Run(%q) = %v, %q; want %q in it", tc.args, err, out, tc.want)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
