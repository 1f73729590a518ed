// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// CheckWritable returns nil if the disk or image file at path may be
// overwritten, else an error wrapping ErrRefused whose one-line message
// names the device, the reason and what to do. bootMedia names the devices
// the boot environment started from (the USB stick); they are refused too.
func CheckWritable(path string, bootMedia ...string) error {
	return Host{BootMedia: bootMedia}.CheckWritable(path)
}

// CheckCapturable returns nil if the disk or image file at path may be
// imaged now, else an error wrapping ErrInUse whose message names the
// device and how it is in use: it, a partition of it or a device built on
// it is mounted or in use as swap (or, for an image file, the loop device
// it backs is). An image of a filesystem in use is inconsistent. capture
// refuses such a disk and inspect says it would.
func CheckCapturable(path string) error {
	return Host{}.CheckCapturable(path)
}

// ListDisks lists the machine's whole disks (see Host.ListDisks).
func ListDisks(bootMedia ...string) ([]DiskInfo, error) {
	return Host{BootMedia: bootMedia}.ListDisks()
}

// CheckWritable is the package's CheckWritable, reading the system state
// from h. It refuses: a partition instead of a whole disk; the disk the boot
// environment started from (h.BootMedia); the disk holding the running
// system's root filesystem; a disk with the disk itself, a partition of it
// or a device built on it (device-mapper, md RAID, loop) mounted or in use
// as swap; an image file backing a loop device that is mounted or in use as
// swap.
func (h Host) CheckWritable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("checking %s before writing: %w", path, err)
	}
	if fi.Mode().IsRegular() {
		if err := h.imageFileRefusal(fi); err != nil {
			return fmt.Errorf("%w to %s: %w", ErrRefused, path, err)
		}
		return nil
	}
	if fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
		return fmt.Errorf("%w to %s: it is neither a disk nor a disk image file; name a whole disk such as /dev/sda or /dev/nvme0n1", ErrRefused, path)
	}
	name := ""
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		name = h.kernelName(uint64(st.Rdev))
	}
	if name == "" {
		return fmt.Errorf("%w to %s: the kernel does not list it under %s; is the disk still attached?", ErrRefused, path, h.sys("dev", "block"))
	}
	if err := h.diskRefusal(name); err != nil {
		return fmt.Errorf("%w to %s: %w", ErrRefused, path, err)
	}
	return nil
}

// CheckCapturable is the package's CheckCapturable, reading the system
// state from h.
func (h Host) CheckCapturable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("checking %s before reading: %w", path, err)
	}
	if fi.Mode().IsRegular() {
		if err := h.imageFileRefusal(fi); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	name := ""
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode()&os.ModeDevice != 0 {
		name = h.kernelName(uint64(st.Rdev))
	}
	if name == "" {
		return nil // not a block device the kernel lists: nothing can have it mounted
	}
	return h.busyReason(name) // it names the device
}

// refusal is why a disk must not be written: a sentence for the technician,
// and the sentinels (ErrBootMedium, ErrInUse) it is a case of, for
// errors.Is.
type refusal struct {
	msg   string
	kinds []error
}

func (r *refusal) Error() string   { return r.msg }
func (r *refusal) Unwrap() []error { return r.kinds }

func refused(kinds []error, format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...), kinds: kinds}
}

// diskRefusal returns why the block device with kernel name name must not be
// written, or nil.
func (h Host) diskRefusal(name string) error {
	if exists(h.sys("class", "block", name, "partition")) {
		parent := h.parentDisk(name)
		if parent == "" {
			return refused(nil, "%s is a partition, not a whole disk; name the whole disk", name)
		}
		return refused(nil, "%s is partition %s of disk /dev/%s, not a whole disk; name /dev/%s instead",
			name, readSys(h.sys("class", "block", name, "partition")), parent, parent)
	}
	if h.isBootMedium(name) {
		return refused([]error{ErrBootMedium}, "/dev/%s is the disk this boot environment was started from; choose another disk", name)
	}
	return h.busyReason(name)
}

// busyReason reports how the disk name, its partitions or a device stacked
// on them is in use (root filesystem, mounted, swap), or nil. The error
// wraps ErrInUse, and ErrBootMedium for the running system's root disk.
func (h Host) busyReason(name string) error {
	family := h.family(name)
	mounts, err := h.mounts()
	if err != nil {
		// Not knowing is not "not mounted".
		return refused([]error{ErrInUse}, "cannot tell whether /dev/%s is mounted: reading the mount table: %v; nothing was done", name, err)
	}
	for _, m := range mounts {
		if n, ok := family.match(m.devnum, m.source); ok && m.mountPoint == "/" {
			return refused([]error{ErrBootMedium, ErrInUse}, "/dev/%s holds the running system's root filesystem%s; choose another disk", name, via(name, n))
		}
	}
	for _, m := range mounts {
		if n, ok := family.match(m.devnum, m.source); ok {
			return refused([]error{ErrInUse}, "/dev/%s is mounted at %s%s; unmount it first (umount %s)", name, m.mountPoint, via(name, n), m.mountPoint)
		}
	}
	for _, s := range h.swaps() {
		if n, ok := family.match("", s); ok {
			return refused([]error{ErrInUse}, "/dev/%s is in use as swap%s; turn it off first (swapoff %s)", name, via(name, n), s)
		}
	}
	return nil
}

// via names the member of a disk's family a mount or swap is on, if not
// the disk itself.
func via(disk, member string) string {
	if member == disk {
		return ""
	}
	return " (through /dev/" + member + ")"
}

// isBootMedium reports whether name is one of h.BootMedia or the disk of one.
func (h Host) isBootMedium(name string) bool {
	for _, b := range h.BootMedia {
		n := ""
		if fi, err := os.Stat(b); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode()&os.ModeDevice != 0 {
				n = h.kernelName(uint64(st.Rdev))
			}
		}
		if n == "" {
			n = filepath.Base(b)
		}
		if exists(h.sys("class", "block", n, "partition")) {
			n = h.parentDisk(n)
		}
		if n == name {
			return true
		}
	}
	return false
}

// imageFileRefusal refuses an image file that backs a busy loop device.
func (h Host) imageFileRefusal(fi os.FileInfo) error {
	loops, _ := filepath.Glob(h.sys("block", "loop*"))
	for _, dir := range loops {
		loop := filepath.Base(dir)
		backing := readSys(filepath.Join(dir, "loop", "backing_file"))
		if backing == "" {
			continue
		}
		bfi, err := os.Stat(strings.TrimSuffix(backing, " (deleted)"))
		if err != nil || !os.SameFile(fi, bfi) {
			continue
		}
		if err := h.busyReason(loop); err != nil {
			return &refusal{msg: fmt.Sprintf("it backs /dev/%s, and %v; then detach it (losetup -d /dev/%s)", loop, err, loop), kinds: []error{err}}
		}
	}
	return nil
}

// parentDisk returns the whole disk holding partition name, or "".
func (h Host) parentDisk(name string) string {
	disks, _ := os.ReadDir(h.sys("block"))
	for _, d := range disks {
		if exists(h.sys("block", d.Name(), name)) {
			return d.Name()
		}
	}
	return ""
}

// devFamily maps device numbers ("8:1") and kernel names of a disk, its
// partitions and everything stacked on them to kernel names.
type devFamily struct {
	byDev  map[string]string
	byName map[string]bool
}

// family collects the disk name, its partitions and their holders
// (device-mapper, md, ...), recursively.
func (h Host) family(name string) devFamily {
	f := devFamily{byDev: map[string]string{}, byName: map[string]bool{}}
	var add func(n string, depth int)
	add = func(n string, depth int) {
		if f.byName[n] || depth > 16 {
			return
		}
		f.byName[n] = true
		if dev := readSys(h.sys("class", "block", n, "dev")); dev != "" {
			f.byDev[dev] = n
		}
		holders, _ := os.ReadDir(h.sys("class", "block", n, "holders"))
		for _, hd := range holders {
			add(hd.Name(), depth+1)
		}
	}
	add(name, 0)
	subs, _ := os.ReadDir(h.sys("block", name))
	for _, s := range subs {
		if exists(h.sys("block", name, s.Name(), "partition")) {
			add(s.Name(), 1)
		}
	}
	return f
}

// match reports whether a mount or swap, given by device number and/or
// source path, is on the family; it returns the member's name.
func (f devFamily) match(devnum, source string) (string, bool) {
	if n, ok := f.byDev[devnum]; ok {
		return n, true
	}
	if !strings.HasPrefix(source, "/") {
		return "", false
	}
	if fi, err := os.Stat(source); err == nil && fi.Mode()&os.ModeDevice != 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if n, ok := f.byDev[fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))]; ok {
				return n, true
			}
			return "", false
		}
	}
	// A path that cannot be resolved (another root, a fake sysfs): by name.
	if b := filepath.Base(source); strings.HasPrefix(source, "/dev/") && f.byName[b] {
		return b, true
	}
	return "", false
}

type mount struct {
	devnum, mountPoint, source string
}

// mounts parses /proc/self/mountinfo.
func (h Host) mounts() ([]mount, error) {
	f, err := os.Open(h.proc("self", "mountinfo"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

// parseMountinfo parses the lines of a mountinfo file.
func parseMountinfo(r io.Reader) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := procFields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := mount{devnum: fields[2], mountPoint: unescapeOctal(fields[4])}
		for i := 5; i < len(fields); i++ {
			if fields[i] == "-" && i+2 < len(fields) {
				m.source = unescapeOctal(fields[i+2])
				break
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// swaps returns the active swap areas' paths from /proc/swaps.
func (h Host) swaps() []string {
	b, err := os.ReadFile(h.proc("swaps"))
	if err != nil {
		return nil
	}
	return parseSwaps(b)
}

// parseSwaps returns the paths a swaps file lists.
func parseSwaps(b []byte) []string {
	var out []string
	for i, line := range strings.Split(string(b), "\n") {
		fields := procFields(line)
		if i == 0 || len(fields) == 0 {
			continue
		}
		out = append(out, unescapeOctal(fields[0]))
	}
	return out
}

// procFields splits a line of mountinfo or swaps into its fields. The kernel
// separates them with spaces and tabs and escapes those (and newline and
// backslash) in paths, but not other white space: a mount point holding a
// vertical tab or a non-breaking space is one field.
func procFields(line string) []string {
	return strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
}

// unescapeOctal undoes the kernel's \040-style escapes in mount paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// DiskInfo describes a whole disk for the restore wizard's list.
type DiskInfo struct {
	Name       string `json:"name"` // kernel name, e.g. "nvme0n1"
	Path       string `json:"path"` // "/dev/" + Name
	Size       int64  `json:"size"` // bytes
	Model      string `json:"model,omitempty"`
	Serial     string `json:"serial,omitempty"`
	Removable  bool   `json:"removable,omitempty"`
	ReadOnly   bool   `json:"read_only,omitempty"`
	BootMedium bool   `json:"boot_medium,omitempty"` // the boot environment's medium or the running system's root disk
	// Refusal is why CheckWritable would refuse the disk ("" when it may be written).
	Refusal string `json:"refusal,omitempty"`
}

// ListDisks lists whole disks from /sys/block, sorted by name. RAM disks,
// zram, optical drives, floppies, device-mapper devices, eMMC boot areas,
// loop devices without a backing file and empty drives (size 0, e.g. a card
// reader without a card) are left out.
func (h Host) ListDisks() ([]DiskInfo, error) {
	entries, err := os.ReadDir(h.sys("block"))
	if err != nil {
		return nil, fmt.Errorf("listing disks: %w", err)
	}
	var out []DiskInfo
	for _, e := range entries {
		n := e.Name()
		skip := false
		for _, p := range []string{"ram", "zram", "sr", "dm-", "fd"} {
			skip = skip || strings.HasPrefix(n, p)
		}
		if strings.HasPrefix(n, "loop") && readSys(h.sys("block", n, "loop", "backing_file")) == "" {
			skip = true
		}
		// eMMC boot and RPMB areas are not disks to restore onto.
		if strings.HasPrefix(n, "mmcblk") && (strings.Contains(n, "boot") || strings.Contains(n, "rpmb")) {
			skip = true
		}
		sectors, _ := strconv.ParseInt(readSys(h.sys("block", n, "size")), 10, 64)
		if skip || sectors == 0 {
			continue
		}
		d := DiskInfo{
			Name:      n,
			Path:      "/dev/" + n,
			Size:      sectors * 512, // sysfs counts 512-byte units whatever the sector size
			Removable: readSys(h.sys("block", n, "removable")) == "1",
			ReadOnly:  readSys(h.sys("block", n, "ro")) == "1",
		}
		d.Model, d.Serial = h.modelSerial(n)
		if err := h.diskRefusal(n); err != nil {
			d.Refusal = err.Error()
			d.BootMedium = errors.Is(err, ErrBootMedium)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
