// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/netcfg"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/restore"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

// The machine the model tests run on, as the wizard would read it.
var officePC = repo.Hardware{
	Vendor: "Dell Inc.", Model: "OptiPlex 7090", Serial: "4DXK2Q3",
	UUID: "4c4c4544-0044-5810-804b-b4c04f4b3233", MACs: []string{"a4:bb:6d:12:34:56"},
}

func thisMachine() job.Machine {
	return job.Machine{
		Hardware:   officePC,
		Links:      []job.Link{{Name: "eno1", MAC: "a4:bb:6d:12:34:56", Carrier: true}},
		SecureBoot: "on",
	}
}

// fixture is a repository with two machines' images and a files snapshot,
// and disk files to restore onto.
type fixture struct {
	dir      string
	repo     string
	source   string // the captured disk of office-pc
	target   string // a blank disk as large
	small    string // a blank disk too small
	image    repo.ID
	files    repo.ID
	replacer []string // what differs between runs, for golden screens
}

var taken = time.Date(2026, 11, 29, 2, 0, 5, 0, time.UTC)

// sampleGPT makes a 40 MiB disk with fixed GUIDs: an 8 MiB EFI system
// partition made by mkfs.fat --invariant, and a 24 MiB data partition of
// seeded random bytes, so that every run captures the same disk.
func sampleGPT(t *testing.T, path string) {
	testutil.NeedTool(t, "sgdisk", "mkfs.fat")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 40<<20); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("sgdisk", "-U", "6a0c2a4e-1f4d-4c1a-9c0e-5f3b2d1e0a01",
		"-n1:2048:+8M", "-t1:ef00", "-c1:EFI system", "-u1:6a0c2a4e-1f4d-4c1a-9c0e-5f3b2d1e0a02",
		"-n2:0:+24M", "-t2:0700", "-c2:Windows", "-u2:6a0c2a4e-1f4d-4c1a-9c0e-5f3b2d1e0a03", path)
	esp := path + ".esp"
	run("mkfs.fat", "--invariant", "-n", "EFI", "-C", esp, "8192")
	b, err := os.ReadFile(esp)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 6<<20)
	rand.New(rand.NewSource(7)).Read(data)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 9<<20); err != nil {
		t.Fatal(err)
	}
}

// newFixture works in a folder of its own, and names its files relative to
// it so that the screens, which show them, are the same on every run.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	fx := &fixture{dir: t.TempDir()}
	t.Chdir(fx.dir)
	fx.repo = "repo"
	fx.source = "office-pc.img"
	fx.target = "sdb.img"
	fx.small = "sdc.img"
	sampleGPT(t, fx.source)
	for _, f := range []struct {
		p    string
		size int64
	}{{fx.target, 40 << 20}, {fx.small, 20 << 20}} {
		if err := os.WriteFile(f.p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f.p, f.size); err != nil {
			t.Fatal(err)
		}
	}
	// The target held an older install: a table of its own.
	if out, err := exec.Command("sgdisk", "-U", "0b6e2a4e-1f4d-4c1a-9c0e-5f3b2d1e0a01",
		"-n1:2048:+16M", "-t1:ef00", "-u1:0b6e2a4e-1f4d-4c1a-9c0e-5f3b2d1e0a02",
		"-n2:0:0", "-t2:0700", "-c2:old Windows", "-u2:0b6e2a4e-1f4d-4c1a-9c0e-5f3b2d1e0a03", fx.target).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v\n%s", err, out)
	}
	if err := os.MkdirAll(fx.repo, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := local.Open(fx.repo)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(ctx, s, repo.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer job.CloseRepo(r)
	capt := func(machine, path string, hw *repo.Hardware, when time.Time) repo.ID {
		d, err := disk.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		res, err := capture.Capture(ctx, r, []capture.Source{d}, capture.Options{
			Machine: machine, Host: machine, Note: "weekly", Hardware: hw, Now: func() time.Time { return when }})
		if err != nil {
			t.Fatal(err)
		}
		return res.Snapshot.ID()
	}
	older := capt("office-pc", fx.source, &officePC, taken.Add(-7*24*time.Hour))
	fx.image = capt("office-pc", fx.source, &officePC, taken)
	other := capt("front-desk", fx.small, nil, taken.Add(-time.Hour))

	home := filepath.Join(fx.dir, "home") // files snapshots take absolute paths
	if err := os.MkdirAll(filepath.Join(home, "jane"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "jane", "orders.ods"), []byte("orders"), 0o644); err != nil {
		t.Fatal(err)
	}
	fres, err := files.Backup(ctx, r, files.Options{Machine: "office-pc", Paths: []string{home}, Host: "office-pc",
		Now: func() time.Time { return taken.Add(9 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	fx.files = fres.Snapshot.ID()
	fx.replacer = []string{repo.ShortID(fx.image), "5e1f0c2a", repo.ShortID(older), "4d0e1b39",
		repo.ShortID(other), "7a2b3c4d", repo.ShortID(fx.files), "9c8d7e6f"}
	return fx
}

func (fx *fixture) options() Options {
	return Options{
		Version: "1.0", Repo: job.Repo{URL: fx.repo}, TestDisks: []string{fx.target, fx.small},
		Inspect: thisMachine, Now: func() time.Time { return taken.Add(10 * time.Hour) },
	}
}

// TestRestoreFlow walks the wizard from the first screen to a verified
// restore, as a technician would, and draws each screen for docs/WIZARD.md.
func TestRestoreFlow(t *testing.T) {
	fx := newFixture(t)
	d := newDriver(t, New(context.Background(), fx.options()))
	d.golden("01-this-machine", fx.replacer...)

	d.keys("enter")
	d.want("Repository: repo_") // prefilled from the settings
	d.golden("02-repository", fx.replacer...)

	d.keys("enter")
	d.want("> office-pc", "this machine") // the hardware match is preselected
	d.golden("03-machine", fx.replacer...)
	d.keys("f", "r")
	d.want("> front-desk", "Filter: fr_")
	d.keys("esc")
	d.want("> office-pc")

	d.keys("enter")
	d.want("> 2026-11-29 02:00  "+repo.ShortID(fx.image), "> 2026-11-29 11:00  "+repo.ShortID(fx.files))
	d.golden("04-point-in-time", fx.replacer...)
	d.keys("down") // the older image: the file snapshot stays offered (newer than it)
	d.want("> 2026-11-22 02:00")
	d.keys("up", "enter")

	d.want("> sdb.img", `now: gpt: 1 EFI System 16.0 MiB, 2 Microsoft basic data "old Windows"`, "not usable: too small")
	d.golden("05-targets", fx.replacer...)
	d.keys("down", "enter") // the small disk is refused
	d.want("sdc.img cannot be used: too small")
	d.keys("up", "enter")

	d.want("This overwrites sdb.img", "type sdb.img")
	d.golden("06-confirm", fx.replacer...)
	before, err := os.ReadFile(fx.target)
	if err != nil {
		t.Fatal(err)
	}
	d.keys("sdc.img", "enter")
	d.want(`confirmation "sdc.img" does not match "sdb.img": nothing was written`)
	if b, _ := os.ReadFile(fx.target); !bytes.Equal(b, before) {
		t.Fatal("the target was written before its name was typed")
	}
	d.keys("sdb.img", "enter")

	d.want("User files", "rewind files replay --repo repo")
	d.golden("08-user-files", fx.replacer...)
	d.keys("enter")
	d.want("DONE  OK", "Verified: what was written read back intact", "Report saved in the repository as")
	rep := regexpFind(t, `reports/office-pc/\S+`, d.screen())
	d.golden("09-done", append(fx.replacer, rep, "reports/office-pc/20261129T120005Z-restore-1a2b3c4d.json.")...)
	same(t, fx.source, fx.target)

	d.keys("enter") // Quit
	if !d.quit || d.m.exit != ExitQuit {
		t.Errorf("quit=%v exit=%v, want the wizard left with ExitQuit", d.quit, d.m.exit)
	}
}

func regexpFind(t *testing.T, re, s string) string {
	t.Helper()
	m := regexpMust(re).FindString(s)
	if m == "" {
		t.Fatalf("no %s in:\n%s", re, s)
	}
	return m
}

func same(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ after the restore", a, b)
	}
}

// TestProgressScreen draws a restore in progress, with a retry note from a
// NAS that dropped, with and without colour.
func TestProgressScreen(t *testing.T) {
	fx := newFixture(t)
	m := New(context.Background(), fx.options())
	d := newDriver(t, m)
	d.keys("enter", "enter", "enter", "enter")
	d.want("> sdb.img")
	// The running restore, frozen at a moment: 43% of the write.
	tr := progress.NewTracker()
	m.flow = flowRestore
	m.run = runScreen{tracker: tr, running: true, started: taken.Add(10*time.Hour - 90*time.Second)}
	m.step = stepRun
	tr.Phase("chunks", 1000<<20)
	tr.At(1, 3)
	tr.Add(progress.Done, 860<<20)
	tr.Add(progress.Fetched, 402<<20)
	tr.Add(progress.Skipped, 458<<20)
	tr.Add(progress.Written, 402<<20)
	tr.Note(progress.Retry, "read packs/5e/5e1f0c2a failed (connection reset by peer); trying again in 1s")
	tr.Note(progress.Warning, "disk 1: the kernel did not re-read the partition table; it will at the next boot")
	m.take()
	m.run.status.Started = m.run.started
	d.want("RESTORING 43% - 2 min left", "disk 1, partition 3", "RETRY read packs/", "WARN  disk 1")
	d.golden("07-progress", fx.replacer...)
	// Colour is an addition: without it the banner is reverse video and
	// every word is still there.
	m.opt.Color = true
	if v := m.View(); !strings.Contains(v, "\x1b[1;37;44m") || !strings.Contains(v, "\x1b[1;33mRETRY") && !strings.Contains(v, "\x1b[1;33m  RETRY") {
		t.Errorf("coloured view lacks the blue banner or the yellow retry:\n%q", v)
	}
	m.opt.Color = false
	if v := m.View(); strings.Contains(v, "\x1b[3") || strings.Contains(v, "\x1b[4") || !strings.Contains(v, "\x1b[1;7m") {
		t.Errorf("plain view uses colours, or its banner is not reverse video:\n%q", v)
	}

	// Ctrl+C asks first; n goes on.
	d.keys("ctrl+c")
	d.want("Stop now? The disk will be partly written")
	d.keys("n")
	if m.run.askStop || !m.run.running {
		t.Error("n did not take the question back")
	}
}

// TestRepositoryErrors: the repository step says what failed, in plain
// words, and lets the technician try again.
func TestRepositoryErrors(t *testing.T) {
	fx := newFixture(t)
	opt := fx.options()
	opt.Repo.URL = "nothing-here"
	d := newDriver(t, New(context.Background(), opt))
	d.keys("enter", "enter")
	d.want("! ", "nothing-here")
	d.keys("ctrl+u")
	d.keys(fx.repo, "enter")
	d.want("> office-pc")

	// An SMB repository: the password is asked, masked, and a refusal is
	// shown with the typed password gone.
	opt = fx.options()
	opt.Repo.URL = "smb://rewind@nas.invalid/backup"
	var got job.Repo
	opt.Open = func(ctx context.Context, spec job.Repo, rep progress.Reporter) (*repo.Repository, error) {
		got = spec
		pw, err := spec.Password("nas")
		if err != nil {
			return nil, err
		}
		if pw != "hunter2" {
			return nil, errors.New("smb://rewind@nas.invalid/backup: the NAS refused user rewind: wrong user name or password; check the password file")
		}
		return nil, errors.New("the NAS has no share named \"backup\": check the share name in the repository URL")
	}
	d = newDriver(t, New(context.Background(), opt))
	d.keys("enter", "enter")
	d.want("Password  : _") // Enter moved to the empty password field
	d.keys("hunter3")
	d.want("Password  : *******_")
	if strings.Contains(d.screen(), "hunter3") {
		t.Fatal("the password shows on the screen")
	}
	d.keys("enter")
	d.want("wrong user name")
	if got.URL != "smb://rewind@nas.invalid/backup" || d.m.repo.pw.value != "" {
		t.Errorf("Open got %q; typed password kept as %q; want the URL, and the password cleared", got.URL, d.m.repo.pw.value)
	}
	d.keys("hunter2", "enter") // the cursor stays in the emptied password field
	d.want(`no share named "backup"`)
}

// TestHomeWarnings: what the technician must see before anything else.
func TestHomeWarnings(t *testing.T) {
	m := thisMachine()
	m.Warnings = []string{"an Intel RST/VMD (RAID) controller (0000:00:0e.0) may hide this machine's disks: switch the SATA mode to AHCI in the firmware setup, then boot rewind again"}
	d := newDriver(t, New(context.Background(), Options{Version: "1.0", Inspect: func() job.Machine { return m }}))
	d.want("WARNING: an Intel RST/VMD (RAID) controller", "switch the SATA mode to AHCI", "WARNING: no disk found to restore onto", "Secure Boot: on")
	d.golden("01-warnings")
}

// TestNetworkStep: in the boot environment the network step shows the
// addresses and asks DHCP again.
func TestNetworkStep(t *testing.T) {
	fx := newFixture(t)
	opt := fx.options()
	opt.Boot = true
	asked := 0
	opt.Network = func(ctx context.Context) ([]netcfg.Lease, error) {
		asked++
		return []netcfg.Lease{{Link: "eno1", Addr: "192.168.1.77/24", Gateway: "192.168.1.1"}}, nil
	}
	opt.Static = func(ctx context.Context, link, cidr, gw string) error { return nil }
	d := newDriver(t, New(context.Background(), opt))
	d.want("Restore this machine", "Shell", "Reboot", "Power off")
	d.keys("enter")
	d.want("No address: DHCP got no answer")
	d.golden("02-network-no-address", fx.replacer...)
	d.keys("r")
	d.want("eno1 192.168.1.77/24")
	if asked != 1 {
		t.Errorf("DHCP asked %d times, want 1", asked)
	}
	d.keys("s")
	d.want("Address  : 192.168.1.250/24_")
	d.keys("esc", "esc")
	d.want("What now?")
}

// TestCaptureFlow captures a disk file through the wizard; the image
// records this machine's hardware.
func TestCaptureFlow(t *testing.T) {
	fx := newFixture(t)
	opt := fx.options()
	opt.TestDisks = []string{fx.source}
	d := newDriver(t, New(context.Background(), opt))
	d.keys("down", "down", "enter", "enter")
	d.want("Machine name: office-pc_", "[x] office-pc.img") // the hardware match names it
	d.keys("tab", "after the update", "enter")
	d.want("DONE  OK", "Image ", "saved")
	s, _ := local.Open(fx.repo)
	r, err := repo.Open(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer job.CloseRepo(r)
	snap, err := r.FindSnapshot(context.Background(), "office-pc", repo.KindImage, "latest")
	if err != nil || snap.Note != "after the update" {
		t.Fatalf("latest image of office-pc: %v, note %q; want the wizard's capture", err, snap.Note)
	}
	if snap.Hardware == nil || snap.Hardware.UUID != officePC.UUID {
		t.Errorf("the wizard's image records hardware %+v, want this machine's", snap.Hardware)
	}
}

// TestFailureScreen: a restore that failed says what, to what, and what
// to do, in capitals without colour.
func TestFailureScreen(t *testing.T) {
	fx := newFixture(t)
	m := New(context.Background(), fx.options())
	d := newDriver(t, m)
	d.keys("enter", "enter", "enter", "enter", "enter")
	d.want("This overwrites sdb.img")
	m.flow = flowRestore
	m.run = runScreen{started: taken.Add(10 * time.Hour), ended: taken.Add(10*time.Hour + 4*time.Minute),
		err: fmt.Errorf("fetching chunk 1f2e3d4c for disk 1 offset 12582912: the NAS did not answer for 5m0s; the target disk is now %w: run the same restore again to finish it once the cause is fixed; it writes only what is still missing", restore.ErrPartlyWritten)}
	m.done.reportErr = errors.New("the NAS did not answer")
	m.goTo(stepDone)
	d.want("FAILED X fetching chunk 1f2e3d4c for disk 1 offset 12582912", "run the same restore again")
	d.golden("09-failed", fx.replacer...)
}

// TestCaptureScreen draws the capture form.
func TestCaptureScreen(t *testing.T) {
	fx := newFixture(t)
	opt := fx.options()
	opt.TestDisks = []string{fx.source, fx.small}
	d := newDriver(t, New(context.Background(), opt))
	d.keys("down", "down", "enter", "enter")
	d.keys("tab", "before the Windows update")
	d.want("Note        : before the Windows update_", "[x] office-pc.img")
	d.golden("10-capture", fx.replacer...)
}

// TestSomeFilesFlow restores one folder of a file backup into a folder,
// leaving what is there alone.
func TestSomeFilesFlow(t *testing.T) {
	fx := newFixture(t)
	d := newDriver(t, New(context.Background(), fx.options()))
	d.keys("down", "enter", "enter")
	d.want("> office-pc")
	if strings.Contains(d.screen(), "front-desk") {
		t.Error("a machine without file backups is offered") // it has an image only
	}
	d.keys("enter")
	d.want("Restore some files", "> 2026-11-29 11:00  "+repo.ShortID(fx.files))
	into := filepath.Join(fx.dir, "back")
	jane := filepath.Join(fx.dir, "home", "jane")
	// Something already there stays as it is.
	if err := os.MkdirAll(filepath.Join(into, jane), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(into, jane, "orders.ods"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.keys("tab", jane, "tab", "ctrl+u", into)
	d.golden("11-some-files", append([]string{fx.dir, "/srv"}, fx.replacer...)...)
	d.keys("enter")
	d.want("The restore failed:")
	if !errors.Is(d.m.some.err, files.ErrExists) {
		t.Errorf("restore over an existing folder: %v, want files.ErrExists", d.m.some.err)
	}
	if b, _ := os.ReadFile(filepath.Join(into, jane, "orders.ods")); string(b) != "mine" {
		t.Errorf("a file already there was replaced: %q", b)
	}
	os.RemoveAll(filepath.Join(into, jane))
	d.keys("enter", "enter") // back to the form, and again
	d.want("2 added (files and")
	if b, _ := os.ReadFile(filepath.Join(into, jane, "orders.ods")); string(b) != "orders" {
		t.Errorf("restored orders.ods = %q, want the backed-up content", b)
	}
}

// TestKeysTogether: keys that arrive in one read (a serial line, a quick
// typist) count one press each, as bubbletea hands them over as one key;
// pasted text stays text.
func TestKeysTogether(t *testing.T) {
	fx := newFixture(t)
	d := newDriver(t, New(context.Background(), fx.options()))
	d.keys("jj")
	d.want("> " + miCapture)
	d.keys("kk")
	d.want("> " + miRestore)
	d.keys("enter", "enter")
	d.want("> office-pc")
	d.keys("fr") // the filter's key, then its first letter
	d.want("> front-desk", "Filter: fr_")
	d.keys("esc", "esc")
	d.want("Repository: repo_")
	_, cmd := d.m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("jj"), Paste: true})
	d.do(cmd)
	d.settle()
	d.want("Repository: repojj_")
}

// TestReplayRefusedScreen: when no restored filesystem can take the user
// files, the screen says why and how to replay them by hand: Linux user
// files as root on the restored system (--into /); Windows user files as
// an administrator on the restored Windows (--into C:\), or here onto the
// volume mounted with ntfs3, never --into /.
func TestReplayRefusedScreen(t *testing.T) {
	for _, tc := range []struct {
		windows bool
		err     string
		want    []string
		not     string
	}{
		{false, "the image has no ext4, xfs or btrfs partition for these Linux user files",
			[]string{"Start the restored system, then run there as root:", "--into /", "It brings back what changed since the image."}, `C:\`},
		{true, `the Windows volume "Win" (partition 3 of /dev/sda) belongs to a hibernated Windows`,
			[]string{"Start the restored Windows, then run there as an administrator:", `--into C:\`, "mount -t ntfs3 -o iocharset=utf8 /dev/PARTITION /mnt", "--into /mnt"}, "--into / "},
	} {
		fx := newFixture(t)
		m := New(context.Background(), fx.options())
		d := newDriver(t, m)
		d.keys("enter", "enter", "enter", "enter", "enter")
		d.want("This overwrites sdb.img")
		m.files = filesScreen{err: fmt.Errorf("%w: %s", job.ErrNoReplayTarget, tc.err), windows: tc.windows}
		m.goTo(stepFiles)
		d.want("no restored filesystem to replay the user")
		screen := d.screen()
		flat := strings.Join(strings.Fields(screen), " ") + " " // the lines as one, unwrapped
		for _, w := range tc.want {
			if !strings.Contains(flat, w) {
				t.Errorf("refusal screen (windows=%v) lacks %q:\n%s", tc.windows, w, screen)
			}
		}
		if strings.Contains(flat, tc.not) {
			t.Errorf("refusal screen (windows=%v) says %q:\n%s", tc.windows, tc.not, screen)
		}
	}
}
