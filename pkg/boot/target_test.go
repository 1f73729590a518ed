// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/progress"
)

func TestResolveTarget(t *testing.T) {
	usb := Disk{Name: "sda", Path: "/dev/sda", Serial: "STICK", Size: 8e9}
	nvme := Disk{Name: "nvme0n1", Path: "/dev/nvme0n1", Serial: "S4EVNX0", Size: 512e9}
	sata := Disk{Name: "sdb", Path: "/dev/sdb", Serial: "WD-123", Size: 1e12}
	mounted := Disk{Name: "sdc", Path: "/dev/sdc", Serial: "MNT", Size: 1e12, Refusal: "/dev/sdc is mounted at /mnt; unmount it first (umount /mnt)"}
	system := Disk{Name: "vda", Path: "/dev/vda", Serial: "ROOT", Size: 64e9, BootMedium: true, Refusal: "/dev/vda holds the running system's root filesystem; choose another disk"}
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
		// A disk that may not be written does not count for "only".
		{"only", []Disk{usb, nvme, mounted}, "sda", "nvme0n1"},
		{"only", []Disk{system, nvme}, "", "nvme0n1"},
		{"only", []Disk{usb, mounted}, "sda", ""},
		{"only", []Disk{usb, nvme, sata, mounted}, "sda", ""},
		// The running system's disk is never a target, named or not.
		{"vda", []Disk{system, nvme}, "", ""},
		{"serial:ROOT", []Disk{system, nvme}, "", ""},
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

// TestUnattendedOnlySkipsRefusedDisks: on a machine with the stick, one
// disk to restore onto and one that is mounted, rewind.target=only picks
// the disk that may be written, instead of failing for there being two.
// With only the mounted disk besides the stick it refuses, saying why.
func TestUnattendedOnlySkipsRefusedDisks(t *testing.T) {
	stick := &Medium{Disk: "sda", Partition: "sda1", Label: "REWIND", Dir: "/run/rewind/medium"}
	conf := map[string]string{
		"/run/rewind/medium/rewind.conf": "repo = smb://backup@nas/rewind\nmachine = pc1\npassword_file = nas.txt\n",
		"/run/rewind/medium/nas.txt":     "hunter2\n",
	}
	usb := Disk{Name: "sda", Path: "/dev/sda", Serial: "STICK"}
	nvme := Disk{Name: "nvme0n1", Path: "/dev/nvme0n1", Serial: "S4EV"}
	busy := Disk{Name: "sdb", Path: "/dev/sdb", Serial: "DATA", Refusal: "/dev/sdb is mounted at /mnt; unmount it first (umount /mnt)"}
	for _, tc := range []struct {
		disks      []Disk
		wantTarget string // "" when no task must run
		want       string
	}{
		{[]Disk{usb, nvme, busy}, "/dev/nvme0n1", `rewind: result {"image":"latest","machine":"pc1","ok":true`},
		{[]Disk{usb, busy}, "", "rewind.target=only: no disk besides the boot medium may be written: sdb (0 B, serial DATA), refused: /dev/sdb is mounted at /mnt"},
	} {
		var out bytes.Buffer
		var target string
		sys := fakeSystem{cmdline: "rewind.task=restore rewind.target=only", files: conf, medium: stick, disks: tc.disks,
			mounted: map[string]bool{"/dev/sdb": true}}
		Run(context.Background(), &sys, Options{
			Console: &out,
			Task: func(ctx context.Context, t Task, rep progress.Reporter) (any, error) {
				target = t.Target
				return nil, nil
			},
			StayUp: func(context.Context) {},
		})
		if target != tc.wantTarget || !strings.Contains(out.String(), tc.want) {
			t.Errorf("unattended restore, target=only, disks %v: target %q, want %q; console lacks %q?\n%s", tc.disks, target, tc.wantTarget, tc.want, out.String())
		}
	}
}
