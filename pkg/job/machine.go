// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// Sys is where the machine's facts are read: "/" on a real machine, a
// fake tree in tests.
type Sys string

func (s Sys) path(p ...string) string {
	return filepath.Join(append([]string{string(s)}, p...)...)
}

func (s Sys) read(p ...string) string {
	b, err := os.ReadFile(s.path(p...))
	if err != nil || len(b) > 4096 {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Placeholders firmware writes where a vendor left a field empty.
var dmiJunk = []string{"", "to be filled by o.e.m.", "default string", "system serial number", "not specified", "none", "0", "00000000-0000-0000-0000-000000000000", "03000200-0400-0500-0006-000700080009"}

func dmi(s Sys, name string) string {
	v := s.read("sys/class/dmi/id", name)
	if slices.Contains(dmiJunk, strings.ToLower(v)) {
		return ""
	}
	return v
}

// ThisHardware reads the hardware of the machine rewind runs on (Linux;
// elsewhere it finds nothing and returns nil).
func ThisHardware() *repo.Hardware { return Sys("/").Hardware() }

// Hardware reads the machine's DMI identity and its built-in network
// cards' MACs: virtual links are left out, and so are USB adapters, which a
// technician carries from machine to machine. Nil when nothing is known.
func (s Sys) Hardware() *repo.Hardware {
	h := &repo.Hardware{
		Vendor: dmi(s, "sys_vendor"), Model: dmi(s, "product_name"),
		Serial: dmi(s, "product_serial"), UUID: strings.ToLower(dmi(s, "product_uuid")),
	}
	for _, l := range s.Links() {
		if !l.USB {
			h.MACs = append(h.MACs, l.MAC)
		}
	}
	if h.Vendor == "" && h.Model == "" && h.Serial == "" && h.UUID == "" && len(h.MACs) == 0 {
		return nil
	}
	return h
}

// Link is a network card.
type Link struct {
	Name    string // "eth0", "enp3s0"
	MAC     string
	Carrier bool // a cable is in and the other end is up
	USB     bool // a USB adapter
}

// Links lists the physical network cards (those with a device behind
// them: not lo, bridges, veth or tun), sorted by name.
func (s Sys) Links() []Link {
	entries, _ := os.ReadDir(s.path("sys/class/net"))
	var out []Link
	for _, e := range entries {
		n := e.Name()
		if _, err := os.Stat(s.path("sys/class/net", n, "device")); err != nil {
			continue
		}
		mac := strings.ToLower(s.read("sys/class/net", n, "address"))
		if mac == "" || mac == "00:00:00:00:00:00" {
			continue
		}
		dev, _ := filepath.EvalSymlinks(s.path("sys/class/net", n, "device"))
		out = append(out, Link{Name: n, MAC: mac, Carrier: s.read("sys/class/net", n, "carrier") == "1", USB: strings.Contains(dev, "/usb")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Intel VMD (Volume Management Device) controllers: with VMD on, the
// firmware's "RAID"/"RST" SATA mode, NVMe disks sit behind it and Linux
// sees none of them without the vmd driver and the right firmware setting.
var vmdDevices = []string{"0x201d", "0x28c0", "0x467f", "0x4c3d", "0x7d0b", "0x9a0b", "0xa77f", "0xad0b", "0xb60b", "0xb06f"}

// Warnings returns what a technician must know about the machine before
// restoring onto it: a RAID/VMD controller that hides disks.
func (s Sys) Warnings() []string {
	var out []string
	entries, _ := os.ReadDir(s.path("sys/bus/pci/devices"))
	for _, e := range entries {
		vendor := s.read("sys/bus/pci/devices", e.Name(), "vendor")
		device := s.read("sys/bus/pci/devices", e.Name(), "device")
		class := s.read("sys/bus/pci/devices", e.Name(), "class")
		if vendor != "0x8086" {
			continue
		}
		if slices.Contains(vmdDevices, device) || strings.HasPrefix(class, "0x0104") {
			out = append(out, "an Intel RST/VMD (RAID) controller ("+e.Name()+") may hide this machine's disks: switch the SATA mode to AHCI in the firmware setup, then boot rewind again")
			break
		}
	}
	return out
}

// SecureBoot says whether the firmware enforces Secure Boot: "on", "off",
// or "" (not UEFI, or not known).
func (s Sys) SecureBoot() string {
	b, err := os.ReadFile(s.path("sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"))
	if err != nil || len(b) < 5 {
		if _, err := os.Stat(s.path("sys/firmware/efi")); err == nil {
			return "off"
		}
		return ""
	}
	if b[4] == 1 {
		return "on"
	}
	return "off"
}

// Machine is what the wizard shows of the machine it runs on.
type Machine struct {
	Hardware   repo.Hardware
	Links      []Link
	Disks      []disk.DiskInfo
	DiskErr    error // the disks could not be listed
	SecureBoot string
	Warnings   []string
}

// Inspect reads the machine rewind runs on. bootMedia are disks to mark as
// the boot medium (never offered as targets).
func Inspect(bootMedia ...string) Machine {
	s := Sys("/")
	m := Machine{Links: s.Links(), SecureBoot: s.SecureBoot(), Warnings: s.Warnings()}
	if h := s.Hardware(); h != nil {
		m.Hardware = *h
	}
	m.Disks, m.DiskErr = disk.ListDisks(bootMedia...)
	return m
}

// Score says how well a machine's recorded hardware h matches hardware here
// and the disk serials here: 0 for nothing in common; the system UUID
// counts most. SameMachine says whether a score names this machine: its
// firmware's UUID or serial number matched (a network card or a disk can
// move between machines).
// SameMachine is the least Score of a machine's own images.
const SameMachine = 4

func Score(h *repo.Hardware, here repo.Hardware, hereSerials []string) int {
	n := 0
	if h != nil {
		if h.UUID != "" && h.UUID == here.UUID {
			n += 8
		}
		if h.Serial != "" && h.Serial == here.Serial {
			n += 4
		}
		for _, m := range h.MACs {
			if slices.Contains(here.MACs, m) {
				n += 2
			}
		}
		for _, s := range h.Disks {
			if s != "" && slices.Contains(hereSerials, s) {
				n++
			}
		}
	}
	return n
}

// Transport says how disk name is attached: "NVMe", "USB", "virtio",
// "SATA/SAS", or "" when not known.
func (s Sys) Transport(name string) string {
	switch {
	case strings.HasPrefix(name, "nvme"):
		return "NVMe"
	case strings.HasPrefix(name, "vd"):
		return "virtio"
	case strings.HasPrefix(name, "mmcblk"):
		return "SD/eMMC"
	}
	target, err := filepath.EvalSymlinks(s.path("sys/block", name))
	switch {
	case err != nil:
		return ""
	case strings.Contains(target, "/usb"):
		return "USB"
	case strings.HasPrefix(name, "sd"):
		return "SATA/SAS"
	}
	return ""
}

// blankHead reports whether the first 4 KiB of d are zero.
func blankHead(d io.ReaderAt) bool {
	head := make([]byte, 4096)
	n, _ := d.ReadAt(head, 0)
	return n > 0 && isBlank(head[:n])
}

// empty reports whether disk d has no partition table and a blank start:
// "empty" in Contents.
func empty(d *disk.Device) bool {
	l, err := disk.ReadLayout(d, d.Size())
	return err == nil && l.Type == disk.TypeNone && blankHead(d)
}

// Contents says in one line what the disk at path holds now: its
// partition table and partitions ("gpt: 1 EFI System 512.0 MiB, 2 Linux
// filesystem 39.5 GiB"), "empty" when it has no table and sector 0 is
// blank, or why it cannot be read. It reads only the table.
func Contents(path string) string {
	d, err := disk.Open(path)
	if err != nil {
		return "cannot be read: " + OneLine(err.Error())
	}
	defer d.Close()
	l, err := disk.ReadLayout(d, d.Size())
	if err != nil {
		return "its partition table cannot be read: " + OneLine(err.Error())
	}
	if l.Type == disk.TypeNone {
		if blankHead(d) {
			return "empty"
		}
		return "no partition table"
	}
	var parts []string
	for _, p := range l.Partitions {
		if p.Extended {
			continue
		}
		what := p.TypeName
		if what == "" {
			what = p.Type
		}
		if p.Name != "" && p.Name != what {
			what += " \"" + p.Name + "\""
		}
		parts = append(parts, fmt.Sprintf("%d %s %s", p.Index, what, human.Bytes(p.Size)))
	}
	if len(parts) == 0 {
		return l.Type + ", no partitions"
	}
	return l.Type + ": " + strings.Join(parts, ", ")
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
