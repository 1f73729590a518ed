// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// resultLines returns stdout's lines whose type is "result".
func resultLines(t *testing.T, out string) []result {
	t.Helper()
	var res []result
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r result
		if json.Unmarshal([]byte(line), &r) == nil && r.Type == "result" {
			res = append(res, r)
		}
	}
	return res
}

// TestJSONResultOnFailure: every verb with --json ends in exactly one
// result line, when it fails too, whatever failed.
func TestJSONResultOnFailure(t *testing.T) {
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	if err := os.Mkdir(repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := run(t, nil, "init", "--repo", repoDir, "--chunk-size", "65536"); code != 0 {
		t.Fatalf("init = %d, %q", code, errs)
	}
	img := filepath.Join(dir, "disk.img")
	testutil.SparseFile(t, img, 8<<20)
	missing := filepath.Join(dir, "nosuch")
	for _, tc := range []struct {
		name string
		args []string
		want string // in the result's error
	}{
		{"capture, no repository there", []string{"capture", "--json", "--repo", missing, "--machine", "ws1", img}, "nosuch"},
		{"capture, no disk there", []string{"capture", "--json", "--repo", repoDir, "--machine", "ws1", missing}, "nosuch"},
		{"capture, bad URL", []string{"capture", "--json", "--repo", "smb://u%3Ap@nas/s", "--machine", "ws1", img}, "holds a password"},
		{"restore, no repository there", []string{"restore", "--json", "--yes", "--repo", missing, "--machine", "ws1", img}, "nosuch"},
		{"restore, no such machine", []string{"restore", "--json", "--yes", "--repo", repoDir, "--machine", "ws1", img}, "ws1"},
		{"inspect, no disk there", []string{"inspect", "--json", missing}, "nosuch"},
		{"images, no repository there", []string{"images", "--json", "--repo", missing}, "nosuch"},
		{"images, no such machine", []string{"images", "--json", "--repo", repoDir, "--machine", "ws1"}, "ws1"},
		{"snapshots, no repository there", []string{"snapshots", "--json", "--repo", missing}, "nosuch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run(t, nil, tc.args...)
			if code == 0 {
				t.Fatalf("%v = 0, want a failure (stdout %q)", tc.args, out)
			}
			res := resultLines(t, out)
			if len(res) != 1 || res[0].OK || !strings.Contains(res[0].Error, tc.want) {
				t.Fatalf("%v result lines = %+v, want one failure naming %q (stdout %q, stderr %q)", tc.args, res, tc.want, out, errs)
			}
			if last := lastLine(out); !strings.Contains(last, `"type":"result"`) {
				t.Errorf("%v last line = %q, want the result line", tc.args, last)
			}
		})
	}
}

// TestPasswordFileChecks: a password file others may read is used with a
// warning; one bigger than a password is refused before it is read.
func TestPasswordFileChecks(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	nas := "smb://tech@" + closed + "/rewind"
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	private := write("private", []byte("s3cret-private\n"), 0o600)
	shared := write("shared", []byte("s3cret-shared\n"), 0o644)
	group := write("group", []byte("s3cret-group\n"), 0o640)
	big := write("big", []byte(strings.Repeat("s3cret-big ", 400)), 0o600)
	// A pipe, as from --password-file <(pass show nas): no warning.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		pw.Write([]byte("s3cret-pipe\n"))
		pw.Close()
	}()
	pipe := fmt.Sprintf("/proc/self/fd/%d", pr.Fd())
	for _, tc := range []struct {
		file     string
		warn     bool
		wantLast string
	}{
		{private, false, "cannot reach the NAS"},
		{shared, true, "cannot reach the NAS"},
		{group, true, "cannot reach the NAS"},
		{big, false, "more than a password"},
		{pipe, false, "cannot reach the NAS"},
	} {
		_, errs, code := run(t, nil, "check", "--repo", nas, "--password-file", tc.file)
		if code != 1 || !strings.Contains(lastLine(errs), tc.wantLast) {
			t.Errorf("check with %s = %d, %q; want %q", filepath.Base(tc.file), code, errs, tc.wantLast)
		}
		if got := strings.Contains(errs, "may be read by other users") && strings.Contains(errs, "chmod 600 "+tc.file); got != tc.warn {
			t.Errorf("check with %s warned %v, want %v (stderr %q)", filepath.Base(tc.file), got, tc.warn, errs)
		}
		if strings.Contains(errs, "s3cret") {
			t.Errorf("check with %s: stderr %q repeats the password", filepath.Base(tc.file), errs)
		}
	}
}

// TestNoPasswordInOutput: whatever fails (host, password, URL, share), no
// command prints the password file's content, on stdout, stderr or in its
// JSON lines, not even percent-encoded in the URL it was given.
func TestNoPasswordInOutput(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	pw := srv.Password()
	dir := t.TempDir()
	wrongPW := "Wr0ng-" + pw[:len(pw)/2] + "-x"
	wrong := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrong, []byte(wrongPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.img")
	testutil.SparseFile(t, img, 8<<20)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	host := fmt.Sprintf("127.0.0.1:%d", srv.Port)
	enc := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}
	type repoCase struct {
		name, url, file string
	}
	repos := []repoCase{
		{"bad host", "smb://" + srv.User + "@" + closed + "/rewind", srv.PasswordFile},
		{"wrong password", "smb://" + srv.User + "@" + host + "/rewind", wrong},
		{"missing share", "smb://" + srv.User + "@" + host + "/nosuch", srv.PasswordFile},
		{"not a repository", "smb://" + srv.User + "@" + host + "/rewind", srv.PasswordFile},
		{"password in URL", "smb://" + srv.User + ":" + url.PathEscape(pw) + "@" + host + "/rewind", ""},
		{"password as %3A", "smb://" + srv.User + "%3A" + enc(pw) + "@" + host + "/rewind", ""},
		{"password as %3a", "smb://" + srv.User + "%3a" + enc(pw) + "@" + host + "/rewind", ""},
		{"password encoded twice", "smb://" + enc(enc(srv.User+":"+pw)) + "@" + host + "/rewind", ""},
		{"password behind a domain", "smb://WORKGROUP;" + srv.User + "%3A" + enc(pw) + "@" + host + "/rewind", ""},
		{"password in a bad URL", "smb://" + srv.User + "%3A" + enc(pw) + "@" + host + ":99999/rewind", ""},
		{"password in a query", "smb://" + srv.User + "@" + host + "/rewind?password=" + enc(pw), ""},
	}
	for _, rc := range repos {
		pass := []string{"--password-file", rc.file}
		if rc.file == "" {
			pass = nil
		}
		for _, args := range [][]string{
			{"capture", "--json", "--machine", "ws1", img},
			{"restore", "--json", "--yes", "--machine", "ws1", img},
			{"verify", "--machine", "ws1", img},
			{"images", "--json"},
			{"snapshots", "--json"},
			{"check"},
			{"prune"},
			{"forget", "--machine", "ws1", "--keep-last", "1"},
		} {
			args := append(append([]string{args[0], "--repo", rc.url}, pass...), args[1:]...)
			t.Run(rc.name+"/"+args[0], func(t *testing.T) {
				out, errs, code := run(t, nil, args...)
				if code == 0 {
					t.Fatalf("%v = 0, want a failure", args)
				}
				for _, secret := range []string{pw, wrongPW, enc(pw), url.PathEscape(pw)} {
					if strings.Contains(out+errs, secret) {
						t.Fatalf("%v printed the password %q:\nstdout %q\nstderr %q", args, secret, out, errs)
					}
				}
			})
		}
	}
	if entries, _ := os.ReadDir(srv.ShareDir); len(entries) != 0 {
		t.Errorf("the share holds %d entries after failed commands, want none", len(entries))
	}
}
