// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot_test

import (
	"context"
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

// TestVMWizard drives the boot environment's wizard over the serial
// console as a technician would at the keyboard: the environment boots
// into the wizard (its default task) with the repository and password file
// of its settings, the technician goes through machine, network,
// repository, machine, image (with the user files backed up after it) and
// target, types the target's name, waits for DONE and the replay of the
// user files, and powers off from the last screen. The host then finds the
// image's files and the newer user files on the virtio disk, fsck clean,
// and a report in the repository.
func TestVMWizard(t *testing.T) {
	kernel, initrd := bootArtifacts(t)
	rewind := qemutest.Rewind(t, "init", "capture", "wizard")
	smb := sambatest.Start(t, sambatest.Options{})
	const size = 32 << 20
	source := testutil.SampleDisk(t, size)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"init", "--repo", smb.URL(), "--password-file", smb.PasswordFile},
		{"capture", "--repo", smb.URL(), "--machine", "pc1", "--note", "weekly", "--password-file", smb.PasswordFile, source},
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
	if out, err := exec.CommandContext(ctx, rewind, "files", "backup", "--repo", smb.URL(), "--machine", "pc1", "--password-file", smb.PasswordFile, home).CombinedOutput(); err != nil {
		t.Fatalf("rewind files backup: %v\n%s", err, out)
	}
	guestRepo := fmt.Sprintf("smb://%s@10.0.2.2:%d/%s", smb.User, smb.Port, smb.Share)
	initrd = withFiles(t, initrd, map[string]string{
		"/etc/rewind/rewind.conf": "password_file = password\nrepo = " + guestRepo + "\n",
		"/etc/rewind/password":    smb.Password() + "\n",
	})
	target := blankDisk(t, size)
	v := qemutest.Start(t, bootArgs(kernel, initrd, "", virtio(target)...)...)
	wizardRestore(t, v, smb.Share, `Replayed onto partition 1: \d+ added`, false)
	t.Logf("wizard restore: QEMU start to power-off %v", v.Elapsed().Round(100*time.Millisecond))
	// The image's files and the user files, on a clean filesystem.
	part := filepath.Join(t.TempDir(), "part.img")
	run(t, "dd", "if="+target, "of="+part, "bs=1M", "skip=1", "status=none")
	run(t, "e2fsck", "-fn", part)
	for p, c := range userFiles {
		got := run(t, "debugfs", "-R", "cat "+filepath.Join(home, p), part)
		if !strings.Contains(got, strings.TrimSpace(c)) {
			t.Errorf("%s on the restored disk: %q, want %q", p, got, c)
		}
	}
	if got := run(t, "debugfs", "-R", "cat /docs/f00.txt", part); !strings.Contains(got, "file 0 of the sample disk") {
		t.Errorf("the image's own /docs/f00.txt after the replay: %q", got)
	}
	if !hasReport(t, filepath.Join(smb.ShareDir, "reports", "pc1"), "restore", "/dev/vda") {
		t.Error("no report of the wizard's restore in the repository")
	}
}

// wizardRestore drives the wizard on v's console as a technician at the
// keyboard: from the boot into the wizard, through machine, network,
// repository (share), machine pc1, its newest image with the user files
// after it, and target vda of 32 MiB, types a wrong name and then the
// right one, waits for DONE and the user-files screen, where the replay's
// outcome must match replayed, and powers off from the last screen (or,
// with shell, leaves the wizard for the boot environment's shell).
func wizardRestore(t *testing.T, v *qemutest.VM, share, replayed string, shell bool) {
	t.Helper()
	v.Expect(`rewind: settings: task=wizard`, bootDeadline)
	v.Expect(`rewind: wizard on the console`, stepDeadline)

	// Each step: wait for the screen, then type. The wizard reads keys
	// only once its screen is drawn, so nothing typed is lost.
	step := func(screen, keys string) {
		t.Helper()
		v.Expect(screen, stepDeadline)
		v.Send(keys)
	}
	step(`Restore this machine`, "\r")
	step(`Network links and addresses`, "\r")
	step(`Repository: \S*`+share, "\r")
	step(`pc1 +\d{4}-\d\d-\d\d \d\d:\d\d`, "\r")
	step(`weekly`, "\r")
	step(`vda +32\.0 MiB`, "\r")
	step(`To go on, type vda and press Enter`, "vdx\r")
	v.Expect(`confirmation "vdx" does not match "vda": nothing was written`, stepDeadline)
	v.Send("\x15vda\r") // Ctrl+U clears the field
	v.Expect(`DONE  OK`, 2*time.Minute)
	step(replayed, "\r")
	v.Expect(`Verified: every chunk read back`, stepDeadline)
	v.Expect(`User files [0-9a-f]{8} replayed`, stepDeadline)
	if shell {
		// One key at a time: keys that come together are one key press
		// to the wizard.
		step(`Report saved in the repository`, "j")
		step(`> Power off`, "j")
		step(`> Shell`, "\r")
		v.Expect(`rewind: wizard: shell`, stepDeadline)
		return
	}
	step(`Report saved in the repository`, "j\r") // Reboot, [Power off], Shell
	v.Expect(`rewind: wizard: poweroff`, stepDeadline)
	if err := v.Wait(stepDeadline); err != nil {
		t.Errorf("the VM did not power off: %v", err)
	}
}
