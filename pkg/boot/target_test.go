// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"errors"
	"testing"
)

func TestResolveTarget(t *testing.T) {
	usb := Disk{Name: "sda", Path: "/dev/sda", Serial: "STICK", Size: 8e9}
	nvme := Disk{Name: "nvme0n1", Path: "/dev/nvme0n1", Serial: "S4EVNX0", Size: 512e9}
	sata := Disk{Name: "sdb", Path: "/dev/sdb", Serial: "WD-123", Size: 1e12}
	for _, tc := range []struct {
		spec   string
		disks  []Disk
		medium string
		want   string // disk name, "" for an error
	}{
		{"nvme0n1", []Disk{usb, nvme}, "sda", "nvme0n1"},
		{"/dev/nvme0n1", []Disk{usb, nvme}, "sda", "nvme0n1"},
		{"serial:WD-123", []Disk{usb, nvme, sata}, "sda", "sdb"},
		{"only", []Disk{usb, nvme}, "sda", "nvme0n1"},
		{"only", []Disk{nvme}, "", "nvme0n1"},
		{"only", []Disk{usb, nvme, sata}, "sda", ""},
		{"only", []Disk{usb}, "sda", ""},
		{"sda", []Disk{usb, nvme}, "sda", ""},
		{"serial:STICK", []Disk{usb, nvme}, "sda", ""},
		{"serial:", []Disk{usb, {Name: "vda"}}, "sda", ""},
		{"vdb", []Disk{usb, nvme}, "sda", ""},
		{"", []Disk{nvme}, "", ""},
	} {
		got, err := ResolveTarget(tc.spec, tc.disks, tc.medium)
		if tc.want == "" {
			if !errors.Is(err, ErrTarget) {
				t.Errorf("ResolveTarget(%q, medium %q) = %v, %v; want ErrTarget", tc.spec, tc.medium, got, err)
			}
			continue
		}
		if err != nil || got.Name != tc.want {
			t.Errorf("ResolveTarget(%q, medium %q) = %v, %v; want %s", tc.spec, tc.medium, got.Name, err, tc.want)
		}
	}
}
