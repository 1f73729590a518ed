// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/internal/qemutest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// firmware returns a writable copy of an OVMF variable store and the code
// image, skipping (failing under REWIND_REQUIRE_TOOLS=1) without them.
func firmware(t *testing.T, code, vars string) (string, string) {
	t.Helper()
	code = filepath.Join("/usr/share/OVMF", code)
	b, err := os.ReadFile(filepath.Join("/usr/share/OVMF", vars))
	if err != nil {
		if testutil.Required() {
			t.Fatalf("OVMF: %v (scripts/deps installs ovmf)", err)
		}
		t.Skipf("OVMF: %v (scripts/deps installs ovmf)", err)
	}
	if _, err := os.Stat(code); err != nil {
		t.Fatalf("OVMF: %v", err)
	}
	p := filepath.Join(t.TempDir(), vars)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return code, p
}

// TestVMUSB boots out/rewind-usb.img as a USB stick (usb-storage on an
// xHCI controller) under UEFI, UEFI with Secure Boot enforced, and legacy
// BIOS, and checks on the serial console that rewind came up and found its
// boot medium (which needs xhci, usb-storage and sd_mod loaded by modalias,
// and vfat).
func TestVMUSB(t *testing.T) {
	if testing.Short() {
		t.Skip("VM test; -short")
	}
	img := qemutest.Make(t, []string{"usb"}, "out/rewind-usb.img")[0]
	stick := []string{
		"-device", "qemu-xhci,id=xhci",
		"-drive", "if=none,id=stick,format=raw,snapshot=on,file=" + img,
		"-device", "usb-storage,bus=xhci.0,drive=stick,bootindex=0",
		"-netdev", "user,id=n0,ipv6=off", "-device", "virtio-net-pci,netdev=n0,romfile=",
		"-device", "virtio-rng-pci",
		"-m", "1024", "-smp", "1", "-no-reboot",
	}
	for _, tc := range []struct {
		name    string
		machine []string
		code    string // OVMF code, "" for SeaBIOS
		vars    string
		want    []string // console markers, in order
	}{
		{"UEFI", []string{"-machine", "q35"}, "OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd",
			[]string{`Linux version 6\.12`}},
		{"UEFI Secure Boot", []string{"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"},
			"OVMF_CODE_4M.ms.fd", "OVMF_VARS_4M.ms.fd",
			[]string{`Linux version 6\.12`, `[Ss]ecure boot enabled`}},
		{"BIOS", []string{"-machine", "pc"}, "", "",
			[]string{`SYSLINUX`, `Linux version 6\.12`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{}, tc.machine...)
			if tc.code != "" {
				code, vars := firmware(t, tc.code, tc.vars)
				args = append(args,
					"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
					"-drive", "if=pflash,format=raw,unit=1,file="+vars)
			}
			args = append(args, stick...)
			v := qemutest.Start(t, args...)
			for _, m := range tc.want {
				v.Expect(m, 4*time.Minute)
			}
			v.Expect(`rewind: boot environment`, 2*time.Minute)
			v.Expect(`rewind: boot medium: sd[a-z] \(partition sd[a-z]1, label REWIND`, 2*time.Minute)
			v.Expect(`rewind: settings: task=wizard`, stepDeadline)
			v.Expect(`rewind: ready after ([0-9.]+)s`, 2*time.Minute)
			// The stick's default task: the wizard, on the screen (tty0,
			// the last console= of the boot menus), not on this serial line.
			v.Expect(`rewind: wizard on the console`, stepDeadline)
			t.Logf("%s: firmware to rewind ready in %v (wall clock)", tc.name, v.Elapsed().Round(100*time.Millisecond))
		})
	}
}
