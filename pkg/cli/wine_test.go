// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/internal/qemutest"
	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// wineRootEnv names the Wine root the test runs rewind.exe in; by default
// out/wine-root of this module, which `make wine-root` (scripts/wine-root)
// builds.
const wineRootEnv = "REWIND_WINE_ROOT"

// wine runs the Windows build of rewind under Wine 10 in a Debian 13 root
// (Debian 12's Wine 8 cannot start Go >= 1.24 programs): each command in a
// private mount namespace with proc and /dev mounted in the root, chrooted
// there, with no display.
type wine struct {
	root   string // the Debian root
	driveC string // its prefix's drive_c, as this machine sees it
	exe    string // rewind.exe, as Windows sees it
}

// winePrefix is the Wine prefix scripts/wine-root initialised in the root.
const winePrefix = "/root/.wine"

// newWine finds the Wine root (skipping, or failing under
// REWIND_REQUIRE_TOOLS=1, when it is not there) and cross-builds
// rewind.exe into dir, a folder under its drive C:.
func newWine(t *testing.T) *wine {
	t.Helper()
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "unshare", "chroot")
	root := os.Getenv(wineRootEnv)
	if root == "" {
		root = filepath.Join(qemutest.Root(t), "out", "wine-root")
	}
	w := &wine{root: root, driveC: filepath.Join(root, winePrefix, "drive_c")}
	for _, p := range []string{".rewind-wine-root", "usr/lib/wine/wine64", winePrefix[1:] + "/system.reg"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			testutil.Missing(t, "no complete Wine root at %s (%v): `make wine-root` builds it with scripts/wine-root", root, err)
		}
	}
	return w
}

// build cross-builds rewind.exe into folder dir (a Windows path under C:).
func (w *wine) build(t *testing.T, dir string) {
	t.Helper()
	w.exe = dir + `\rewind.exe`
	cmd := exec.Command("go", "build", "-trimpath", "-o", w.host(w.exe), "./cmds/rewind")
	cmd.Dir = qemutest.Root(t)
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go build: %v\n%s", err, out)
	}
}

// host returns where Windows path p (C:\...) is on this machine.
func (w *wine) host(p string) string {
	if len(p) < 2 || (p[0] != 'C' && p[0] != 'c') || p[1] != ':' {
		panic("not a path on C: " + p)
	}
	return filepath.Join(w.driveC, filepath.FromSlash(strings.ReplaceAll(p[2:], `\`, "/")))
}

// wineRun is the shell that runs a command in the root: proc and /dev
// in a mount namespace of its own, gone when it ends.
const wineRun = `root=$1; shift
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
exec chroot "$root" /usr/bin/env -i "$@"`

// command returns the command that runs prog (a program in the root)
// with args and the environment env, with a time limit.
func (w *wine) command(ctx context.Context, env map[string]string, prog string, args ...string) *exec.Cmd {
	a := []string{"--mount", "--propagation", "private", "sh", "-eu", "-c", wineRun, "sh", w.root,
		"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "WINEPREFIX=" + winePrefix, "WINEDEBUG=-all",
		// No display (no X, no Wayland), nothing to install (Mono, Gecko).
		"DISPLAY=", "WAYLAND_DISPLAY=", "WINEDLLOVERRIDES=mscoree,mshtml=;winewayland.drv,winex11.drv=d"}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a = append(a, k+"="+env[k])
	}
	a = append(append(a, prog), args...)
	cmd := exec.CommandContext(ctx, "unshare", a...)
	// Wine starts a wineserver and helpers: kill them all on a timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// start starts the root's wineserver, to stay until stop: each command
// then connects to it rather than starting one of its own (some 3 s), and
// no server started by a command holds that command's output open.
func (w *wine) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range [][]string{
		{"/usr/lib/wine/wineserver", "--persistent"},
		// Wine's own services (services.exe, explorer.exe) start with
		// the first program: start them with nothing to inherit.
		{"/usr/lib/wine/wine64", "wineboot"},
	} {
		cmd := w.command(ctx, nil, c[0], c[1:]...)
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s under Wine: %v", strings.Join(c, " "), err)
		}
	}
	t.Cleanup(func() { w.stop(t) })
}

// stop stops the root's wineserver and with it Wine's services.
func (w *wine) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := w.command(ctx, nil, "/usr/lib/wine/wineserver", "--kill").CombinedOutput(); err != nil {
		t.Errorf("wineserver --kill: %v %s", err, out)
	}
}

// rewind runs rewind.exe with args and returns its stdout, stderr and
// exit code.
func (w *wine) rewind(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := w.command(ctx, env, "/usr/lib/wine/wine64", append([]string{w.exe}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("rewind.exe %s: %v, %.1f s", strings.Join(args, " "), err, time.Since(start).Seconds())
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running rewind.exe %s under Wine: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	if ctx.Err() != nil {
		t.Fatalf("rewind.exe %s under Wine did not finish in time\n%s%s", strings.Join(args, " "), stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// mustRewind runs rewind.exe and fails the test unless it succeeds.
func (w *wine) mustRewind(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, errs, code := w.rewind(t, env, args...)
	if code != 0 {
		t.Fatalf("rewind.exe %s = exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// A moment with 100 ns precision, the resolution of Windows file times:
// the test's files carry such times, so that a round trip keeps them
// exactly.
var wineEpoch = time.Date(2025, 11, 3, 9, 15, 42, 123456700, time.UTC)

// wineTree is the folder the test backs up: awkward names, nested folders,
// an empty file, a file of a few MiB, a read-only file, a hard-link pair,
// a path longer than Windows' old 260-character limit.
type wineTree struct {
	dir string // on this machine
}

// longDir is a chain of folders whose path passes 260 characters.
var longDir = []string{strings.Repeat("long folder name ", 5) + "1", strings.Repeat("Långer Ordner ", 6) + "2", strings.Repeat("x", 120)}

func (wt wineTree) write(t *testing.T, rel string, data []byte, when time.Time) {
	t.Helper()
	p := filepath.Join(wt.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o200 == 0 {
		os.Chmod(p, 0o644)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
}

// pseudoRandom returns n bytes that do not compress, the same on every run
// for a seed, so that the content-defined blobs fall at the same places.
func pseudoRandom(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func (wt wineTree) fill(t *testing.T) {
	t.Helper()
	at := func(k int) time.Time { return wineEpoch.Add(time.Duration(k) * (time.Hour + 1234500*time.Nanosecond)) }
	wt.write(t, "Documents/Quarterly plan 2025.ods", pseudoRandom(1, bigFile), at(1))
	wt.write(t, "Documents/naïve ünïcødé 日本語/résumé — final.txt", []byte("Lebenslauf\r\n"), at(2))
	wt.write(t, "Documents/empty", nil, at(3))
	wt.write(t, "Documents/desktop.ini", []byte("[.ShellClassInfo]\r\n"), at(3))
	wt.write(t, "Documents/a/b/c/d/deep.txt", []byte("deep\n"), at(4))
	wt.write(t, "Documents/"+strings.Repeat("a long file name ", 11)+"end.txt", []byte("long name\n"), at(5))
	wt.write(t, "Documents/"+strings.Join(longDir, "/")+"/beyond MAX_PATH.txt", []byte("past 260 characters\n"), at(6))
	wt.write(t, "Documents/old notes.txt", []byte("to be deleted\n"), at(7))
	wt.write(t, "Documents/read-only.txt", []byte("do not touch\n"), at(8))
	for _, p := range []string{"Documents/read-only.txt", "Documents/old notes.txt"} {
		if err := os.Chmod(filepath.Join(wt.dir, p), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	wt.write(t, "Music/song.mp3", pseudoRandom(2, 300<<10), at(9))
	if err := os.Link(filepath.Join(wt.dir, "Music/song.mp3"), filepath.Join(wt.dir, "Music/song (same file).mp3")); err != nil {
		t.Fatal(err)
	}
	wt.dirTimes(t)
}

// bigFile is the size of the big file: several content-defined blobs.
const bigFile = 6<<20 + 12345

// change edits the tree as a day's work does: an edit inside the big file,
// a new file, a deleted one, the read-only file replaced, a file's
// permissions changed (aclChanged).
func (wt wineTree) change(t *testing.T) (read int64) {
	t.Helper()
	when := wineEpoch.Add(48 * time.Hour)
	big := filepath.Join(wt.dir, "Documents/Quarterly plan 2025.ods")
	b, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[len(b)/2:], "an edit in the middle of the file")
	wt.write(t, "Documents/Quarterly plan 2025.ods", b, when)
	wt.write(t, "Documents/new in the second backup.txt", []byte("new\n"), when)
	if err := os.Remove(filepath.Join(wt.dir, "Documents/old notes.txt")); err != nil {
		t.Fatal(err)
	}
	wt.write(t, "Documents/read-only.txt", []byte("changed all the same\n"), when)
	if err := os.Chmod(filepath.Join(wt.dir, "Documents/read-only.txt"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(wt.dir, aclChanged), 0o600); err != nil {
		t.Fatal(err)
	}
	wt.dirTimes(t)
	return int64(len(b)) + int64(len("new\n")) + int64(len("changed all the same\n"))
}

// dirTimes gives each folder a time of its own, deepest first (setting a
// folder's time does not change its parent's).
func (wt wineTree) dirTimes(t *testing.T) {
	t.Helper()
	var dirs []string
	filepath.WalkDir(wt.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	for k := len(dirs) - 1; k >= 0; k-- {
		when := wineEpoch.Add(time.Duration(k)*time.Minute + 700*time.Nanosecond)
		if err := os.Chtimes(dirs[k], when, when); err != nil {
			t.Fatal(err)
		}
	}
}

// wineEntry is what the test compares of an entry: its relative path,
// type, permission bits (Windows keeps only read-only), modification time,
// content, and for a file the other names of its hard-link group.
type wineEntry struct {
	Path  string
	Dir   bool
	Perm  fs.FileMode
	MTime time.Time
	Data  []byte
	Links []string
}

// snapshotTree lists the tree under dir as this machine sees it.
func snapshotTree(t *testing.T, dir string) []wineEntry {
	t.Helper()
	var out []wineEntry
	inodes := map[uint64][]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := wineEntry{Path: filepath.ToSlash(rel), Dir: d.IsDir(), Perm: fi.Mode().Perm(), MTime: fi.ModTime().UTC()}
		if !d.IsDir() {
			if e.Data, err = os.ReadFile(p); err != nil {
				return err
			}
			ino := fi.Sys().(*syscall.Stat_t).Ino
			inodes[ino] = append(inodes[ino], e.Path)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k := range out {
		for _, group := range inodes {
			if len(group) > 1 && slices.Contains(group, out[k].Path) {
				out[k].Links = group
			}
		}
	}
	return out
}

// windowsPerm is the permission Windows shows for a file of this
// machine: read-only or not (the FILE_ATTRIBUTE_READONLY bit is all it
// keeps); folders are 0777 there, as Go's os package reports them.
func windowsPerm(e wineEntry) fs.FileMode {
	switch {
	case e.Dir:
		return 0o777
	case e.Perm&0o200 == 0:
		return 0o444
	}
	return 0o666
}

// sameTree fails the test unless the tree under got equals the tree
// under want, as Windows keeps it: names, bytes, times, read-only, links.
func sameTree(t *testing.T, what string, want, got []wineEntry) {
	t.Helper()
	for k := range want {
		want[k].Perm = windowsPerm(want[k])
	}
	for k := range got {
		got[k].Perm = windowsPerm(got[k])
	}
	if d := cmp.Diff(want, got, cmp.Transformer("summary", func(b []byte) string {
		return fmt.Sprintf("%d bytes %x", len(b), b[:min(len(b), 16)])
	})); d != "" {
		t.Errorf("%s differs from the source (-source +restored):\n%s", what, d)
	}
}

// TestWindowsBuildUnderWine backs up a folder of C:\Users through the
// Windows build of rewind, changes it, backs it up again and restores and
// replays it, into a repository on a drive letter path and one on a real
// Samba share on loopback; the restored trees must equal the source in
// names, bytes, modification times, read-only bits and hard links, and
// as Windows sees them in attributes and security descriptors (the DACL,
// all Wine keeps: wine_sd_test.go); the second backup must read only what
// changed, and check --read-data must find the repositories clean. A
// path in the \\?\ form is backed up as the plain one; a network folder
// is refused.
func TestWindowsBuildUnderWine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Windows build under Wine; -short")
	}
	w := newWine(t)
	top, err := os.MkdirTemp(filepath.Join(w.driveC, "users"), "rewind-wine-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	w.start(t)
	win := `C:\users\` + filepath.Base(top) // top, as Windows sees it
	w.build(t, win)

	srv := sambatest.Start(t, sambatest.Options{})
	// The password reaches rewind.exe through a file that
	// REWIND_PASSWORD_FILE names, never on its command line.
	pw, err := os.ReadFile(srv.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "password"), pw, 0o600); err != nil {
		t.Fatal(err)
	}
	smbEnv := map[string]string{passwordEnv: win + `\password`}

	for _, tc := range []struct {
		name, repo string
		env        map[string]string
		// The same repository for this machine's build.
		linuxRepo string
		linuxEnv  map[string]string
	}{
		{"local", win + `\repository`, nil, filepath.Join(top, "repository"), nil},
		{"smb", srv.URL() + "/wine", smbEnv, srv.URL() + "/wine", map[string]string{passwordEnv: srv.PasswordFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostRepo := job.Repo{URL: tc.linuxRepo, PasswordFile: tc.linuxEnv[passwordEnv]}
			wineRoundTrip(t, w, win+`\`+tc.name, tc.repo, tc.env, srv.Password(), hostRepo)
			if out, errs, code := run(t, tc.linuxEnv, "check", "--repo", tc.linuxRepo, "--read-data"); code != 0 || !strings.Contains(out, "no problems found") {
				t.Errorf("check --read-data by the Linux build = %d, %q %q; want no problems found", code, out, errs)
			}
		})
	}

	// On a console and with no password file, rewind.exe asks for the
	// password there (Windows has no /dev/tty), without echo.
	t.Run("prompt", func(t *testing.T) {
		testutil.NeedTool(t, "tmux")
		socket := fmt.Sprintf("rewind-wine-%d", os.Getpid())
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := w.command(ctx, nil, "/usr/lib/wine/wine64", w.exe, "snapshots", "--repo", srv.URL()+"/wine")
		args := append([]string{"-L", socket, "new-session", "-d", "-x", "150", "-y", "30", "--"}, cmd.Args...)
		args = append(args, ";", "set-option", "remain-on-exit", "on")
		if out, err := exec.CommandContext(ctx, "tmux", args...).CombinedOutput(); err != nil {
			t.Fatalf("tmux new-session: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command("tmux", "-L", socket, "kill-server").Run() })
		screen := func() string {
			out, err := exec.Command("tmux", "-L", socket, "capture-pane", "-p", "-J").CombinedOutput()
			if err != nil {
				return fmt.Sprintf("(capture-pane: %v: %s)", err, out)
			}
			return string(out)
		}
		expect := func(what string) string {
			t.Helper()
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
				s := screen()
				if strings.Contains(s, what) {
					return s
				}
				if strings.Contains(s, "Pane is dead") || time.Now().After(deadline) {
					t.Fatalf("the console did not show %q (within a minute, before rewind.exe ended):\n%s", what, s)
				}
			}
		}
		expect("Password for " + srv.URL() + "/wine:")
		if out, err := exec.Command("tmux", "-L", socket, "send-keys", "-l", srv.Password()).CombinedOutput(); err != nil {
			t.Fatalf("tmux send-keys: %v %s", err, out)
		}
		if out, err := exec.Command("tmux", "-L", socket, "send-keys", "Enter").CombinedOutput(); err != nil {
			t.Fatalf("tmux send-keys: %v %s", err, out)
		}
		s := expect("Pane is dead")
		if n := len(regexp.MustCompile(`office-pc +files`).FindAllString(s, -1)); n != 2 || strings.Contains(s, srv.Password()) {
			t.Errorf("after the password, the console shows %d files snapshots of office-pc (want 2, and no password):\n%s", n, s)
		}
	})
}

// wineRoundTrip runs the backups and restores of one repository; base is a
// folder (Windows path) of its own for the source and the restores;
// hostRepo is the repository as this machine reaches it.
func wineRoundTrip(t *testing.T, w *wine, base, repository string, env map[string]string, password string, hostRepo job.Repo) {
	src := base + `\jane`
	tree := wineTree{dir: w.host(src)}
	tree.fill(t)
	// Windows attributes that only Windows sets: a hidden system file.
	// (Wine's attrib applies only the last of several flags.)
	for _, flag := range []string{"+h", "+s"} {
		if out, err := w.command(context.Background(), nil, "/usr/lib/wine/wine64", "attrib", flag, src+`\Documents\desktop.ini`).CombinedOutput(); err != nil {
			t.Fatalf("attrib %s under Wine: %v %s", flag, err, out)
		}
	}
	// Entries whose security descriptors differ from those of the
	// entries a replay makes (see wine_sd_test.go).
	makePrivate(t, tree.dir)
	before := snapshotTree(t, tree.dir)
	var outputs strings.Builder
	rewind := func(args ...string) string {
		t.Helper()
		out := w.mustRewind(t, env, args...)
		outputs.WriteString(out)
		return out
	}

	rewind("init", "--repo", repository)
	first := wineBackup(t, rewind("files", "backup", "--repo", repository, "--machine", "office-pc", "--json", src))
	if first.Stats.Files != 11 || first.Stats.ReadBytes != first.Stats.Bytes || len(first.Problems) != 0 {
		t.Errorf("first backup: %d files, %d of %d bytes read, problems %v; want 11 files, all read, no problems",
			first.Stats.Files, first.Stats.ReadBytes, first.Stats.Bytes, first.Problems)
	}
	ctx := context.Background()
	r, err := job.Open(ctx, hostRepo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer job.CloseRepo(r)
	wineSnapshotNodes(t, r, first.Snapshot, src)
	firstMeta := windowsMeta(t, r, "office-pc", first.Snapshot, src)
	checkPrivate(t, firstMeta)

	// The extended form of a path is the path; a network folder is
	// refused, saying what to do.
	extended := `\\?\` + src + `\Documents\a`
	ext := wineBackup(t, rewind("files", "backup", "--repo", repository, "--machine", "extended-path", "--json", extended))
	if s, err := r.FindSnapshot(ctx, "extended-path", repo.KindFiles, ext.Snapshot); err != nil || !cmp.Equal(s.Files.Paths, []string{src + `\Documents\a`}) {
		t.Errorf("files backup %s: %v; want the snapshot's path %s", extended, err, src+`\Documents\a`)
	} else if _, err := files.Lookup(ctx, r, s.Files.Root(), src+`\Documents\a\b\c\d\deep.txt`); err != nil {
		t.Errorf("files backup %s: %v", extended, err)
	}
	share := `\\server\share\jane`
	if out, errs, code := w.rewind(t, env, "files", "backup", "--repo", repository, "--machine", "share", share); code == 0 || !strings.Contains(errs, "network folder: back it up on the machine that holds it") {
		t.Errorf("files backup %s = exit %d, %q %q; want a refusal naming a network folder", share, code, out, errs)
	}

	changedBytes := tree.change(t)
	after := snapshotTree(t, tree.dir)
	second := wineBackup(t, rewind("files", "backup", "--repo", repository, "--machine", "office-pc", "--json", src))
	// Unchanged files (same size, times, volume serial and file index) are
	// not read again; the edit in the middle of the big file stores only
	// the blobs around it.
	if second.Stats.ReadBytes != changedBytes || second.Stats.NewBytes > bigFile/2 || second.Stats.Files != 11 {
		t.Errorf("second backup: %d files, read %d bytes, %d new; want 11 files, %d bytes read (the changed files), under %d new",
			second.Stats.Files, second.Stats.ReadBytes, second.Stats.NewBytes, changedBytes, bigFile/2)
	}

	secondMeta := windowsMeta(t, r, "office-pc", second.Snapshot, src)
	if sd := secondMeta[aclChanged].SD; bytes.Contains(sd.DACL, sidEveryone) {
		t.Errorf("second backup: the descriptor of %s still lets Everyone in (%+v); want the one after its change", aclChanged, sd)
	}

	out := rewind("files", "ls", "--repo", repository, "--machine", "office-pc", src+`\Documents`)
	for _, name := range []string{"naïve ünïcødé 日本語/", "new in the second backup.txt", "read-only.txt"} {
		if !strings.Contains(out, name) {
			t.Errorf("files ls %s\\Documents lacks %q:\n%s", src, name, out)
		}
	}
	out = rewind("files", "diff", "--repo", repository, "--machine", "office-pc", first.Snapshot[:8], second.Snapshot[:8])
	for _, want := range [][2]string{{"added", src + `\Documents\new in the second backup.txt`}, {"deleted", src + `\Documents\old notes.txt`}} {
		if line := lineWithSuffix(out, want[1]); !strings.HasPrefix(line, want[0]+" ") {
			t.Errorf("files diff: want a line %q ... %q in\n%s", want[0], want[1], out)
		}
	}

	// Restore the newest snapshot into a new folder: the tree comes back
	// under DIR\users\...\jane, drive letter dropped.
	rewind("files", "restore", "--repo", repository, "--machine", "office-pc", "--to", base+`\restored`, src)
	sameTree(t, "the restored folder", after, snapshotTree(t, w.host(base+`\restored`+src[2:])))
	checkPrivateModes(t, "the restored folder", w.host(base+`\restored`+src[2:]), aclChanged)
	// What Windows shows of the restored folder (attributes, read-only,
	// times, security descriptors), as the Windows build reads it back in
	// a backup of it.
	check := func(what, dir string, want map[string]wineMeta) {
		t.Helper()
		b := wineBackup(t, rewind("files", "backup", "--repo", repository, "--machine", "read-back", "--json", dir))
		if d := cmp.Diff(want, windowsMeta(t, r, "read-back", b.Snapshot, dir)); d != "" {
			t.Errorf("%s as Windows sees it differs from the source (-source +restored):\n%s", what, d)
		}
	}
	check("the restored folder", base+`\restored`+src[2:], secondMeta)

	// The first snapshot restored, then replayed forward to the second:
	// a changed read-only file, a deletion, an addition over a tree that
	// exists.
	old := base + `\replayed`
	rewind("files", "restore", "--repo", repository, "--machine", "office-pc", "--snapshot", first.Snapshot[:8], "--to", old, src)
	sameTree(t, "the first snapshot, restored", before, snapshotTree(t, w.host(old+src[2:])))
	checkPrivateModes(t, "the first snapshot, restored", w.host(old+src[2:]))
	check("the first snapshot, restored", old+src[2:], firstMeta)
	out = rewind("files", "replay", "--repo", repository, "--machine", "office-pc", "--into", old)
	if !strings.Contains(out, "1 added, 2 changed, 1 deleted") {
		t.Errorf("files replay printed %q; want 1 added, 2 changed, 1 deleted", out)
	}
	sameTree(t, "the replayed folder", after, snapshotTree(t, w.host(old+src[2:])))
	checkPrivateModes(t, "the replayed folder", w.host(old+src[2:]), aclChanged)
	check("the replayed folder", old+src[2:], secondMeta)

	out = rewind("check", "--repo", repository, "--read-data")
	if !strings.Contains(out, "no problems found") {
		t.Errorf("rewind.exe check --read-data printed %q; want no problems found", out)
	}
	if strings.Contains(outputs.String(), password) {
		t.Errorf("rewind.exe's output holds the SMB password")
	}
}

// lineWithSuffix returns the line of s that ends in suffix, or "".
func lineWithSuffix(s, suffix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasSuffix(strings.TrimRight(l, "\r"), suffix) {
			return l
		}
	}
	return ""
}

// wineBackup parses the result line of files backup --json.
func wineBackup(t *testing.T, out string) filesBackupJSON {
	t.Helper()
	var res filesBackupJSON
	if err := json.Unmarshal([]byte(lastLine(out)), &res); err != nil || !res.OK || res.Stats == nil || len(res.Snapshot) < 8 {
		t.Fatalf("files backup --json ended with %q (%v); want an ok result with a snapshot", lastLine(out), err)
	}
	return res
}

// wineSnapshotNodes reads the snapshot with this build and checks what
// the Windows build recorded of a file: the path under the drive letter,
// the volume serial number and file index, the change and creation times,
// the attributes.
func wineSnapshotNodes(t *testing.T, r *repo.Repository, id, src string) {
	t.Helper()
	ctx := context.Background()
	s, err := r.FindSnapshot(ctx, "office-pc", repo.KindFiles, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{src}; !cmp.Equal(s.Files.Paths, want) {
		t.Errorf("snapshot paths = %q, want %q", s.Files.Paths, want)
	}
	tp := "/" + strings.ReplaceAll(src, `\`, "/") + "/Documents/read-only.txt"
	n, err := files.Lookup(ctx, r, s.Files.Root(), tp)
	if err != nil {
		t.Fatal(err)
	}
	long := src + `\Documents\` + strings.Join(longDir, `\`) + `\beyond MAX_PATH.txt`
	if ln, err := files.Lookup(ctx, r, s.Files.Root(), long); err != nil || ln.Inode == 0 || len(long) < 260 {
		t.Errorf("Lookup(%s) (%d characters) = %+v, %v; want a node with a file index", long, len(long), ln, err)
	}
	if n.Dev == 0 || n.Inode == 0 || n.CTime == 0 || n.Birth == 0 || n.Mode != 0o444 || n.MTime != wineEpoch.Add(8*(time.Hour+1234500)).UnixNano() {
		t.Errorf("node of %s = dev %x, file index %x, ctime %d, birth %d, mode %o, mtime %d; want ids, times, 0444 and the file's mtime",
			tp, n.Dev, n.Inode, n.CTime, n.Birth, n.Mode, n.MTime)
	}
	const hiddenSystem = 0x2 | 0x4
	if n, err := files.Lookup(ctx, r, s.Files.Root(), src+`\Documents\desktop.ini`); err != nil || n.Attrs&hiddenSystem != hiddenSystem {
		t.Errorf("desktop.ini: %+v, %v; want the hidden and system attributes", n, err)
	}
}

// wineMeta is what Windows shows of an entry, as the Windows build
// records it: attributes, mode (read-only or not), modification time,
// security descriptor. Not the creation time: Wine cannot set it (see
// setTimes in pkg/files/meta_windows.go).
type wineMeta struct {
	Type  string
	Attrs uint32
	Mode  uint32
	MTime time.Time
	SD    sdParts
}

// windowsMeta returns the wineMeta of every entry under path p of the
// snapshot, by path relative to p.
func windowsMeta(t *testing.T, r *repo.Repository, machine, id, p string) map[string]wineMeta {
	t.Helper()
	ctx := context.Background()
	s, err := r.FindSnapshot(ctx, machine, repo.KindFiles, id)
	if err != nil {
		t.Fatal(err)
	}
	top, err := files.Lookup(ctx, r, s.Files.Root(), p)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]wineMeta{}
	var walk func(dir string, n *repo.Node)
	walk = func(rel string, n *repo.Node) {
		if rel != "" {
			sd, err := parseSelfRelative(n.Security)
			if err != nil {
				t.Errorf("%s of snapshot %s: security descriptor %x: %v", rel, id, n.Security, err)
			}
			out[rel] = wineMeta{files.TypeName(n.Type), n.Attrs, n.Mode, time.Unix(0, n.MTime).UTC(), sd}
		}
		if n.Type != repo.NodeDir {
			return
		}
		tr, err := r.LoadTree(ctx, *n.Subtree)
		if err != nil {
			t.Fatal(err)
		}
		for k := range tr.Nodes {
			walk(strings.TrimPrefix(rel+"/"+tr.Nodes[k].Name, "/"), &tr.Nodes[k])
		}
	}
	walk("", top)
	if len(out) < 10 {
		t.Fatalf("%s of snapshot %s holds %d entries; want the whole tree", p, id, len(out))
	}
	return out
}
