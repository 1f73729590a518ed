// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/internal/qemutest"
	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	p, err := testutil.LookPath(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out, err := exec.Command(p, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestVMRestore is the unattended restore end to end: a disk captured on
// this machine into the test's Samba, and user files backed up after it,
// are restored by the boot environment, configured only by the kernel
// command line and a baked-in rewind.conf with a password file, onto a
// blank virtio disk: the image, then the user files (files=latest, the
// default); rewind prints its result line with both summaries and powers
// the VM off; the host finds the partition table as the source's, the
// image's files and the user files on a clean ext4. Onto NVMe with
// rewind.files=none, the disk is identical to the source.
func TestVMRestore(t *testing.T) {
	kernel, initrd := bootArtifacts(t)
	rewind := qemutest.Rewind(t, "init", "capture", "restore", "files")
	smb := sambatest.Start(t, sambatest.Options{})
	const size = 32 << 20
	source := testutil.SampleDisk(t, size)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	host := smb.URL()
	for _, args := range [][]string{
		{"init", "--repo", host, "--password-file", smb.PasswordFile},
		{"capture", "--repo", host, "--machine", "pc1", "--password-file", smb.PasswordFile, source},
	} {
		if out, err := exec.CommandContext(ctx, rewind, args...).CombinedOutput(); err != nil {
			t.Fatalf("rewind %s: %v\n%s", args[0], err, out)
		}
	}
	// User files backed up after the image.
	home := filepath.Join(t.TempDir(), "home")
	userFiles := map[string]string{"jane/orders.ods": "orders of the week\n", "jane/notes/today.txt": "call the customer\n"}
	for p, c := range userFiles {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(home, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.CommandContext(ctx, rewind, "files", "backup", "--repo", host, "--machine", "pc1", "--password-file", smb.PasswordFile, home).CombinedOutput(); err != nil {
		t.Fatalf("rewind files backup: %v\n%s", err, out)
	}

	guestRepo := fmt.Sprintf("smb://%s@10.0.2.2:%d/%s", smb.User, smb.Port, smb.Share)
	initrd = withFiles(t, initrd, map[string]string{
		"/etc/rewind/rewind.conf": "password_file = password\n",
		"/etc/rewind/password":    smb.Password() + "\n",
	})
	for _, tc := range []struct {
		name    string
		spec    string // rewind.target
		files   string // rewind.files, "": the default (latest)
		dev     string // the device the guest writes
		size    int64  // of the blank target
		refused string // regexp of the refusal, "" if the restore must succeed
		attach  func(file string) []string
	}{
		{"virtio", "only", "", "/dev/vda", size, "", virtio},
		{"NVMe by serial", "serial:RWTEST1", "none", "/dev/nvme0n1", size, "", func(f string) []string {
			return []string{"-drive", "file=" + f + ",if=none,id=nv,format=raw", "-device", "nvme,serial=RWTEST1,drive=nv"}
		}},
		{"target too small", "vda", "", "/dev/vda", size / 2, `rewind: error: unattended restore onto vda failed: [^\r\n]*small`, virtio},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := blankDisk(t, tc.size)
			cmdline := "rewind.task=restore rewind.machine=pc1 rewind.after=poweroff rewind.target=" + tc.spec + " rewind.repo=" + guestRepo
			if tc.files != "" {
				cmdline += " rewind.files=" + tc.files
			}
			v := qemutest.Start(t, bootArgs(kernel, initrd, cmdline, tc.attach(target)...)...)
			v.Expect(`rewind: ready after`, bootDeadline)
			if tc.refused != "" {
				v.Expect(tc.refused, 2*time.Minute)
				stillUp(t, v)
				if b, err := os.ReadFile(target); err != nil || bytes.Count(b, []byte{0}) != len(b) {
					t.Errorf("the too-small target was written (or unreadable: %v)", err)
				}
				return
			}
			res := result(t, v)
			var r struct {
				OK      bool   `json:"ok"`
				Target  string `json:"target"`
				Summary struct {
					Verified bool `json:"verified"`
					Files    struct {
						Replayed bool   `json:"replayed"`
						Why      string `json:"why"`
						Added    int    `json:"added"`
						Fetched  int64  `json:"fetched"`
					} `json:"files"`
				} `json:"summary"`
			}
			if err := json.Unmarshal([]byte(res), &r); err != nil || !r.OK || r.Target != tc.dev || !r.Summary.Verified {
				t.Errorf("result %s: ok=%v target=%q (%v), want ok onto %s, verified", res, r.OK, r.Target, err, tc.dev)
			}
			f := r.Summary.Files
			v.Expect(`rewind: powering off`, stepDeadline)
			if err := v.Wait(stepDeadline); err != nil {
				t.Errorf("the VM did not power off by itself: %v", err)
			}
			t.Logf("restore onto %s (files=%s): QEMU start to power-off %v", tc.dev, tc.files, v.Elapsed().Round(100*time.Millisecond))
			if tc.files == "none" {
				if f.Replayed || f.Why != "no user files to replay: files=none" {
					t.Errorf("result %s: want the user files not replayed, files=none", res)
				}
				sameDisk(t, source, target)
			} else {
				if !f.Replayed || f.Added < len(userFiles) || f.Fetched == 0 {
					t.Errorf("result %s: want the user files replayed, %d added or more, bytes fetched", res, len(userFiles))
				}
				sameTable(t, source, target)
				part := filepath.Join(t.TempDir(), "part.img")
				run(t, "dd", "if="+target, "of="+part, "bs=1M", "skip=1", "status=none")
				run(t, "e2fsck", "-fn", part)
				for p, c := range userFiles {
					if got := run(t, "debugfs", "-R", "cat "+filepath.Join(home, p), part); !strings.Contains(got, c) {
						t.Errorf("%s on the restored disk: %q, want %q", p, got, c)
					}
				}
				if got := run(t, "debugfs", "-R", "cat /docs/f00.txt", part); !strings.Contains(got, "file 0 of the sample disk\n") {
					t.Errorf("the image's own /docs/f00.txt after the replay: %.40q", got)
				}
			}
			if !hasReport(t, filepath.Join(smb.ShareDir, "reports", "pc1"), "restore", tc.dev) {
				t.Errorf("no report of the restore onto %s in the repository", tc.dev)
			}
		})
	}
}

// hasReport reports whether dir holds a successful report of task that
// names target.
func hasReport(t *testing.T, dir, task, target string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*-"+task+"-*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			OK      bool     `json:"ok"`
			Targets []string `json:"targets"`
		}
		if json.Unmarshal(b, &r) == nil && r.OK && len(r.Targets) == 1 && r.Targets[0] == target {
			return true
		}
	}
	return false
}

func virtio(f string) []string { return []string{"-drive", "file=" + f + ",if=virtio,format=raw"} }

// sameDisk compares two disk images byte for byte: partition tables with
// their GUIDs, filesystems, and the zeros between.
func sameDisk(t *testing.T, source, target string) {
	t.Helper()
	a, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("restored disk differs from the source\nsource: %s\ntarget: %s",
			run(t, "sfdisk", "-d", source), run(t, "sfdisk", "-d", target))
	}
}

// sameTable compares the partition tables of two disk images: the first
// MiB (protective MBR, GPT header and entries) and the backup GPT in the
// last MiB, around the SampleDisk's one partition.
func sameTable(t *testing.T, source, target string) {
	t.Helper()
	a, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	if len(a) != len(b) || !bytes.Equal(a[:mib], b[:mib]) || !bytes.Equal(a[len(a)-mib:], b[len(b)-mib:]) {
		t.Errorf("restored partition table differs from the source's\nsource: %s\ntarget: %s",
			run(t, "sfdisk", "-d", source), run(t, "sfdisk", "-d", target))
	}
}

// TestVMCapture: the boot environment captures a disk attached to the VM
// (AHCI, named by its kernel name) into the host's Samba, unattended; the
// host then restores that image onto a blank image file and finds it
// identical to the disk.
func TestVMCapture(t *testing.T) {
	kernel, initrd := bootArtifacts(t)
	rewind := qemutest.Rewind(t, "init", "capture", "restore")
	smb := sambatest.Start(t, sambatest.Options{})
	const size = 32 << 20
	source := testutil.SampleDisk(t, size)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, rewind, "init", "--repo", smb.URL(), "--password-file", smb.PasswordFile).CombinedOutput(); err != nil {
		t.Fatalf("rewind init: %v\n%s", err, out)
	}

	initrd = withFiles(t, initrd, map[string]string{
		"/etc/rewind/rewind.conf": "password_file = password\n",
		"/etc/rewind/password":    smb.Password() + "\n",
	})
	guestRepo := fmt.Sprintf("smb://%s@10.0.2.2:%d/%s", smb.User, smb.Port, smb.Share)
	v := qemutest.Start(t, bootArgs(kernel, initrd,
		"rewind.task=capture rewind.machine=guest1 rewind.after=poweroff rewind.target=sda rewind.repo="+guestRepo,
		"-machine", "q35", "-drive", "file="+source+",if=none,id=d0,format=raw,snapshot=on", "-device", "ide-hd,drive=d0,bus=ide.0")...)
	v.Expect(`rewind: ready after`, bootDeadline)
	res := result(t, v)
	if !strings.Contains(res, `"ok":true`) || !strings.Contains(res, `"task":"capture"`) {
		t.Errorf("result %s, want an ok capture", res)
	}
	v.Expect(`rewind: powering off`, stepDeadline)
	if err := v.Wait(stepDeadline); err != nil {
		t.Errorf("the VM did not power off by itself: %v", err)
	}
	t.Logf("capture: QEMU start to power-off %v", v.Elapsed().Round(100*time.Millisecond))
	if !hasReport(t, filepath.Join(smb.ShareDir, "reports", "guest1"), "capture", "/dev/sda") {
		t.Errorf("no report of the capture of /dev/sda in the repository")
	}

	target := blankDisk(t, size)
	if out, err := exec.CommandContext(ctx, rewind, "restore", "--repo", smb.URL(), "--machine", "guest1",
		"--password-file", smb.PasswordFile, "--yes", target).CombinedOutput(); err != nil {
		t.Fatalf("rewind restore on the host: %v\n%s", err, out)
	}
	sameDisk(t, source, target)
}

// result waits for the result line of an unattended task and returns its
// JSON; an error line ends the wait at once.
func result(t *testing.T, v *qemutest.VM) string {
	t.Helper()
	m := v.Expect(`rewind: (result|error:) ([^\r\n]*)\r?\n`, 5*time.Minute)
	if m[1] != "result" {
		t.Fatalf("rewind: error: %s", m[2])
	}
	return m[2]
}

// TestVMUSBUnattended is the technician's path: the USB stick's rewind.conf,
// edited as from any computer (here with mtools), asks for an unattended
// restore of "the only disk besides the stick"; booted under SeaBIOS with the
// stick and a blank virtio disk, rewind restores onto the disk, never the
// stick, and powers off.
func TestVMUSBUnattended(t *testing.T) {
	if testing.Short() {
		t.Skip("VM test; -short")
	}
	img := qemutest.Make(t, []string{"usb"}, "out/rewind-usb.img")[0]
	rewind := qemutest.Rewind(t, "init", "capture", "restore")
	testutil.NeedTool(t, "mcopy")
	smb := sambatest.Start(t, sambatest.Options{})
	const size = 32 << 20
	source := testutil.SampleDisk(t, size)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"init", "--repo", smb.URL(), "--password-file", smb.PasswordFile},
		{"capture", "--repo", smb.URL(), "--machine", "front-desk", "--password-file", smb.PasswordFile, source},
	} {
		if out, err := exec.CommandContext(ctx, rewind, args...).CombinedOutput(); err != nil {
			t.Fatalf("rewind %s: %v\n%s", args[0], err, out)
		}
	}

	dir := t.TempDir()
	stick := filepath.Join(dir, "stick.img")
	run(t, "cp", "--sparse=always", img, stick)
	conf := filepath.Join(dir, "rewind.conf")
	pw := filepath.Join(dir, "nas-password.txt")
	body := fmt.Sprintf("repo = smb://%s@10.0.2.2:%d/%s\npassword_file = nas-password.txt\ntask = restore\nmachine = front-desk\ntarget = only\nafter = poweroff\n",
		smb.User, smb.Port, smb.Share)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, []byte(smb.Password()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	part := stick + "@@1048576" // the ESP starts at 1 MiB (images/mkusb)
	run(t, "mcopy", "-o", "-i", part, conf, "::/rewind.conf")
	run(t, "mcopy", "-o", "-i", part, pw, "::/nas-password.txt")
	before, err := os.ReadFile(stick)
	if err != nil {
		t.Fatal(err)
	}

	target := blankDisk(t, size)
	v := qemutest.Start(t,
		"-machine", "pc", "-m", "1024", "-smp", "1", "-no-reboot",
		"-device", "qemu-xhci,id=xhci",
		"-drive", "if=none,id=stick,format=raw,file="+stick,
		"-device", "usb-storage,bus=xhci.0,drive=stick,bootindex=0",
		"-drive", "file="+target+",if=virtio,format=raw",
		"-netdev", "user,id=n0,ipv6=off", "-device", "virtio-net-pci,netdev=n0,romfile=",
		"-device", "virtio-rng-pci")
	v.Expect(`rewind: boot medium: sda`, 4*time.Minute)
	v.Expect(`rewind: settings: task=restore`, stepDeadline)
	res := result(t, v)
	if !strings.Contains(res, `"target":"/dev/vda"`) {
		t.Errorf("result %s, want a restore onto /dev/vda", res)
	}
	if err := v.Wait(stepDeadline); err != nil {
		t.Errorf("the VM did not power off by itself: %v", err)
	}
	t.Logf("USB stick to restored and powered off: %v", v.Elapsed().Round(100*time.Millisecond))
	sameDisk(t, source, target)
	after, err := os.ReadFile(stick)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the USB stick was written")
	}
}
