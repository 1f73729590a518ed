// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLayering(t *testing.T) {
	s := Default()
	if err := s.ApplyConf([]byte("repo = smb://backup@nas/b\nmachine = pc1\npassword_file = /etc/rewind/pw\n"), "/etc/rewind/rewind.conf", "/etc/rewind"); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyConf([]byte("# the shop's NAS\nmachine = \"front desk\"\npassword_file = secrets/nas\ntask=restore\n"), "rewind.conf", "/run/rewind/medium"); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyCmdline(`BOOT_IMAGE=/vmlinuz console=ttyS0 rewind.target=serial:ABC rewind.after=poweroff quiet`); err != nil {
		t.Fatal(err)
	}
	want := Settings{
		Repo: "smb://backup@nas/b", Machine: "front desk", Task: TaskRestore, Image: "latest", Files: "latest",
		Target: "serial:ABC", After: AfterPoweroff, PasswordFile: "/run/rewind/medium/secrets/nas",
		Origin: map[string]string{
			"repo": "/etc/rewind/rewind.conf line 1", "machine": "rewind.conf line 2",
			"password_file": "rewind.conf line 3", "task": "rewind.conf line 4",
			"target": "kernel command line", "after": "kernel command line",
		},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("layered settings (-want +got):\n%s", diff)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check() = %v, want nil", err)
	}
}

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []Pair
		wantErr error
	}{
		{"", nil, nil},
		{"console=ttyS0,115200 quiet", nil, nil},
		{`rewind.machine="front desk" rewind.task=restore`, []Pair{
			{"machine", "front desk", "kernel command line"}, {"task", "restore", "kernel command line"}}, nil},
		{"REWIND.Repo=smb://u@10.0.2.2:4450/r", []Pair{{"repo", "smb://u@10.0.2.2:4450/r", "kernel command line"}}, nil},
		{"rewind.password=hunter2", nil, ErrPassword},
		{"rewind.passwd=hunter2", nil, ErrPassword},
		{"rewind.password_file=/x", nil, ErrPassword},
		{"smbpass=hunter2", nil, ErrPassword},
		{"rewind.targt=sda", nil, ErrSetting},
	} {
		got, err := ParseCmdline(tc.in)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("ParseCmdline(%q) error = %v, want %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseCmdline(%q) error %q quotes the password", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ParseCmdline(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestParseConf(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []Pair
		wantErr error
	}{
		{"", nil, nil},
		{"# comment\n\n  ; another\n", nil, nil},
		{"\ufeffrepo = smb://nas/b\r\n", []Pair{{"repo", "smb://nas/b", "f line 1"}}, nil},
		{"rewind.target=only", []Pair{{"target", "only", "f line 1"}}, nil},
		{"password = hunter2", nil, ErrPassword},
		{"Password=hunter2", nil, ErrPassword},
		{"repo", nil, ErrSetting},
		{"colour = blue", nil, ErrSetting},
		{"\xff\xfe", nil, ErrSetting},
	} {
		got, err := ParseConf([]byte(tc.in), "f")
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("ParseConf(%q) error = %v, want %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseConf(%q) error %q quotes the password", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ParseConf(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"rewind.task=format", ErrSetting},
		{"rewind.after=explode", ErrSetting},
		{"rewind.repo=smb://u:hunter2@nas/r", ErrPassword},
		{"rewind.repo=smb://u%3Ahunter2@nas/r", ErrPassword},
		{"rewind.repo=smb://u%3ahunter2@nas/r", ErrPassword},
		{"rewind.repo=smb://u%253Ahunter2@nas/r", ErrPassword},
		{"rewind.repo=smb://DOM;u%3Ahunter2@nas:4455/r", ErrPassword},
		{"rewind.repo=smb://u@nas/r", nil},
		{"rewind.repo=smb://nas/u:x", nil},
		{"rewind.report=http://192.168.77.2:8080/done/52-54-00-12-34-56", nil},
		{"rewind.report=ftp://srv/done", ErrSetting},
		{"rewind.report=http://u:hunter2@srv/done", ErrSetting},
		{"rewind.report=/done", ErrSetting},
	} {
		in := tc.in
		s := Default()
		err := s.ApplyCmdline(in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ApplyCmdline(%q) = %v, want %v", in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ApplyCmdline(%q) error %q quotes the password", in, err)
		}
		if tc.want != nil && (s.Task != TaskWizard || s.After != AfterWait || s.Repo != Default().Repo) {
			t.Errorf("ApplyCmdline(%q) changed settings on error: %+v", in, s)
		}
	}
}

func TestCheck(t *testing.T) {
	s := Default()
	s.Task = TaskRestore
	s.Repo = "smb://nas/b"
	err := s.Check()
	if !errors.Is(err, ErrSetting) {
		t.Fatalf("Check() = %v, want ErrSetting", err)
	}
	for _, k := range []string{"machine", "target", "password_file"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("Check() = %q, does not name %s", err, k)
		}
	}
}

// TestFiles: the files key takes latest (the default), none, or a file
// snapshot id, in any case; anything else is refused when read, before the
// task starts, and a restore's summary shows it.
func TestFiles(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"", "latest", nil},
		{"latest", "latest", nil},
		{"NONE", "none", nil},
		{"3fA9", "3fa9", nil},
		{"3fa9c0d1e2b4a5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0", "3fa9c0d1e2b4a5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0", nil},
		{"3fa", "", ErrSetting},    // too short to name one
		{"newest", "", ErrSetting}, // not a word it knows, not hex
		{"3fa9 ", "3fa9", nil},     // rewind.conf trims values
		{"yes", "", ErrSetting},
	} {
		s := Default()
		err := s.ApplyConf([]byte("files = "+tc.in+"\n"), "c", "/m")
		if !errors.Is(err, tc.err) || err == nil && s.Files != tc.want {
			t.Errorf("files = %q: Files %q, error %v; want %q, %v", tc.in, s.Files, err, tc.want, tc.err)
		}
	}
	s := Default()
	if err := s.ApplyCmdline("rewind.task=restore rewind.files=none"); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Summary(), "task=restore image=latest files=none after=wait"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

func TestSummaryHasNoSecret(t *testing.T) {
	s := Default()
	if err := s.ApplyConf([]byte("password_file = pw\nrepo = smb://u@nas/r\n"), "c", "/m"); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Summary(), "task=wizard repo=smb://u@nas/r image=latest after=wait password_file=/m/pw"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

// FuzzParseCmdline checks that parsing never panics and that a password
// handed on the command line never shows up in the error.
func FuzzParseCmdline(f *testing.F) {
	for _, s := range []string{"", "console=ttyS0 rewind.task=restore", `rewind.machine="a b`, "rewind.password=SECRETVALUE", "a=\"\" \"rewind.repo=x y\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		const secret = "SECRETVALUE"
		pairs, err := ParseCmdline(in + " rewind.password=" + secret)
		if err == nil || !errors.Is(err, ErrPassword) && !errors.Is(err, ErrSetting) {
			t.Fatalf("ParseCmdline(%q + password) = %v, %v; want a refusal", in, pairs, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q quotes the password", err)
		}
		s := Default()
		_ = s.ApplyCmdline(in)
	})
}

// FuzzParseConf checks that parsing never panics, that a password line never
// shows up in the error, and that accepted keys are known ones.
func FuzzParseConf(f *testing.F) {
	for _, s := range []string{"", "repo = x\n", "password=SECRETVALUE", "task=restore\nafter=reboot\n", "\"=\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		pairs, err := ParseConf(in, "f")
		if err == nil {
			for _, p := range pairs {
				if looksLikeSecret(p.Key) && p.Key != "password_file" {
					t.Fatalf("ParseConf(%q) accepted secret key %q", in, p.Key)
				}
			}
		}
		s := Default()
		_ = s.ApplyConf(in, "f", "/m")
		const secret = "SECRETVALUE"
		if _, err := ParseConf(append(append([]byte{}, in...), "\npassword = "+secret+"\n"...), "f"); err != nil && strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q quotes the password", err)
		}
	})
}
