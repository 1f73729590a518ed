// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// fakeSys writes files (path → content) under a temp root.
func fakeSys(t *testing.T, files map[string]string) Sys {
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if c == "DIR" {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Sys(root)
}

func TestHardware(t *testing.T) {
	s := fakeSys(t, map[string]string{
		"sys/class/dmi/id/sys_vendor":     "Dell Inc.\n",
		"sys/class/dmi/id/product_name":   "OptiPlex 7090\n",
		"sys/class/dmi/id/product_serial": "To Be Filled By O.E.M.\n", // a placeholder: no serial
		"sys/class/dmi/id/product_uuid":   "4C4C4544-0044-5810-804B-B4C04F4B3233\n",
		"sys/class/net/eno1/address":      "A4:BB:6D:12:34:56\n",
		"sys/class/net/eno1/carrier":      "1\n",
		"sys/class/net/eno1/device":       "DIR",
		"sys/class/net/lo/address":        "00:00:00:00:00:00\n",
		"sys/class/net/br0/address":       "02:42:ac:11:00:02\n", // virtual: no device
	})
	want := &repo.Hardware{Vendor: "Dell Inc.", Model: "OptiPlex 7090", UUID: "4c4c4544-0044-5810-804b-b4c04f4b3233", MACs: []string{"a4:bb:6d:12:34:56"}}
	if diff := cmp.Diff(want, s.Hardware()); diff != "" {
		t.Errorf("Hardware() (-want +got):\n%s", diff)
	}
	if got := fakeSys(t, nil).Hardware(); got != nil {
		t.Errorf("Hardware() of an empty machine = %+v, want nil", got)
	}
}

func TestWarningsAndSecureBoot(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		warn  string // "" for none
		sb    string
	}{
		{"VMD by device id", map[string]string{
			"sys/bus/pci/devices/0000:00:0e.0/vendor": "0x8086\n", "sys/bus/pci/devices/0000:00:0e.0/device": "0x9a0b\n",
			"sys/bus/pci/devices/0000:00:0e.0/class": "0x010400\n",
		}, "switch the SATA mode to AHCI", ""},
		{"RST RAID by class", map[string]string{
			"sys/bus/pci/devices/0000:00:17.0/vendor": "0x8086\n", "sys/bus/pci/devices/0000:00:17.0/device": "0x2822\n",
			"sys/bus/pci/devices/0000:00:17.0/class": "0x010400\n",
		}, "Intel RST/VMD", ""},
		{"AHCI and Secure Boot on", map[string]string{
			"sys/bus/pci/devices/0000:00:17.0/vendor": "0x8086\n", "sys/bus/pci/devices/0000:00:17.0/device": "0xa352\n",
			"sys/bus/pci/devices/0000:00:17.0/class":                                   "0x010601\n",
			"sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c": "\x06\x00\x00\x00\x01",
		}, "", "on"},
		{"UEFI without Secure Boot", map[string]string{"sys/firmware/efi/efivars/x": ""}, "", "off"},
	} {
		s := fakeSys(t, tc.files)
		ws := s.Warnings()
		if tc.warn == "" && len(ws) != 0 || tc.warn != "" && (len(ws) != 1 || !strings.Contains(ws[0], tc.warn)) {
			t.Errorf("%s: Warnings() = %q, want one saying %q (or none)", tc.name, ws, tc.warn)
		}
		if got := s.SecureBoot(); got != tc.sb {
			t.Errorf("%s: SecureBoot() = %q, want %q", tc.name, got, tc.sb)
		}
	}
}

func TestScore(t *testing.T) {
	here := repo.Hardware{UUID: "u1", Serial: "S1", MACs: []string{"m1", "m2"}}
	for _, tc := range []struct {
		h    *repo.Hardware
		want int
	}{
		{nil, 0},
		{&repo.Hardware{UUID: "u2", Serial: "S2", MACs: []string{"m3"}}, 0},
		{&repo.Hardware{UUID: "u1"}, 8},
		{&repo.Hardware{MACs: []string{"m2"}, Disks: []string{"D1"}}, 3},
		{&repo.Hardware{UUID: "u1", Serial: "S1", MACs: []string{"m1"}}, 14},
	} {
		if got := Score(tc.h, here, []string{"D1"}); got != tc.want {
			t.Errorf("Score(%+v) = %d, want %d", tc.h, got, tc.want)
		}
	}
}
