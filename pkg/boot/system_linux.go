// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/netcfg"
)

// mediumDir is where the boot medium is mounted, read-only.
const mediumDir = "/run/rewind/medium"

// linuxSystem is the running Linux machine, as seen from the initramfs.
type linuxSystem struct {
	mods    *moduleLoader
	modsErr error
	fsDone  bool
	// console receives warnings that do not stop what was asked.
	console io.Writer
}

// NewSystem returns the System of the running Linux machine. Warnings that
// do not stop a method go to console, the boot environment's console.
func NewSystem(console io.Writer) System {
	m, err := newModuleLoader()
	return &linuxSystem{mods: m, modsErr: err, console: console}
}

func (s *linuxSystem) LoadModules(ctx context.Context) ([]string, error) {
	if s.mods == nil {
		err := s.modsErr
		s.modsErr = nil // say it once
		return nil, err
	}
	return s.mods.load(ctx)
}

// LoadFS loads the kernel module of filesystem type fstype ("ext4") and
// what it needs, for a mount.
func (s *linuxSystem) LoadFS(fstype string) error {
	if s.mods == nil {
		return s.modsErr
	}
	mods := []string{fstype}
	if fstype == "ext4" || fstype == "btrfs" || fstype == "xfs" {
		// Metadata checksums: the kernel asks the crypto API for crc32c
		// by name, which no module dependency brings in.
		mods = append([]string{"crc32c_generic"}, mods...)
	}
	_, err := s.mods.loadByName(mods)
	return err
}

func (s *linuxSystem) Network(ctx context.Context) ([]netcfg.Lease, error) {
	return netcfg.Configure(ctx, netcfg.DefaultOptions())
}

func (s *linuxSystem) Cmdline() (string, error) {
	b, err := os.ReadFile("/proc/cmdline")
	return strings.TrimSpace(string(b)), err
}

func (s *linuxSystem) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (s *linuxSystem) Dial(ctx context.Context, addr string) error {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func (s *linuxSystem) Uptime() time.Duration {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return time.Duration(f * float64(time.Second))
}

func (s *linuxSystem) Reboot() error {
	drainConsole()
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}

func (s *linuxSystem) PowerOff() error {
	drainConsole()
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// drainConsole waits until what was printed has left the console (tcdrain,
// then a moment for the UART's FIFO): powering off right after the last
// line, such as the result line, could otherwise cut it off. Seen under
// QEMU, where "rewind: powering off" sometimes never reached the serial
// port.
func drainConsole() {
	for _, f := range []*os.File{os.Stdout, os.Stderr} {
		_ = unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
	}
	time.Sleep(250 * time.Millisecond)
}

// Shell runs u-root's shell on the console.
func (s *linuxSystem) Shell(ctx context.Context) error {
	for _, sh := range []string{"/bin/defaultsh", "/bbin/gosh", "/bin/sh"} {
		if _, err := os.Stat(sh); err != nil {
			continue
		}
		c := exec.CommandContext(ctx, sh)
		c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
		c.Env = append(os.Environ(), "PATH=/bbin:/bin:/ubin:/usr/bin:/sbin")
		return c.Run()
	}
	return errors.New("no shell in this initramfs")
}

// FindMedium looks at every partition for a FAT filesystem labelled label
// (or, with label "", one holding rewind.conf) and mounts it read-only.
func (s *linuxSystem) FindMedium(ctx context.Context, label string) (Medium, bool, error) {
	if !s.fsDone && s.mods != nil {
		s.fsDone = true
		if _, err := s.mods.loadByName(fsModules); err != nil {
			fmt.Fprintf(s.console, "rewind: warning: filesystem modules: %s\n", oneLine(err.Error()))
		}
	}
	parts, err := filepath.Glob("/sys/class/block/*/partition")
	if err != nil {
		return Medium{}, false, err
	}
	sort.Strings(parts)
	var errs []error
	for _, p := range parts {
		if ctx.Err() != nil {
			return Medium{}, false, ctx.Err()
		}
		name := filepath.Base(filepath.Dir(p))
		lbl, ok := fatLabel("/dev/" + name)
		if !ok || (label != "" && !strings.EqualFold(lbl, label)) {
			continue
		}
		if err := os.MkdirAll(mediumDir, 0o755); err != nil {
			return Medium{}, false, err
		}
		if err := unix.Mount("/dev/"+name, mediumDir, "vfat", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			errs = append(errs, fmt.Errorf("mounting %s: %w", name, err))
			continue
		}
		if label == "" {
			if _, err := os.Stat(filepath.Join(mediumDir, "rewind.conf")); err != nil {
				_ = unix.Unmount(mediumDir, 0)
				continue
			}
		}
		return Medium{Disk: parentDisk(name), Partition: name, Label: lbl, Dir: mediumDir}, true, nil
	}
	return Medium{}, false, errors.Join(errs...)
}

// parentDisk returns the whole disk a partition belongs to.
func parentDisk(part string) string {
	real, err := filepath.EvalSymlinks("/sys/class/block/" + part)
	if err != nil {
		return ""
	}
	return filepath.Base(filepath.Dir(real))
}

// fatLabel reads a FAT boot sector's volume label.
func fatLabel(dev string) (string, bool) {
	f, err := os.Open(dev)
	if err != nil {
		return "", false
	}
	defer f.Close()
	b := make([]byte, 512)
	if _, err := f.ReadAt(b, 0); err != nil {
		return "", false
	}
	return parseFATLabel(b)
}

// ListDisks lists whole disks through pkg/disk.
func (s *linuxSystem) ListDisks(ctx context.Context) ([]Disk, error) {
	infos, err := disk.ListDisks()
	if err != nil {
		return nil, err
	}
	disks := make([]Disk, 0, len(infos))
	for _, d := range infos {
		disks = append(disks, Disk{Name: d.Name, Path: d.Path, Model: d.Model, Serial: d.Serial, Size: d.Size, Refusal: d.Refusal, BootMedium: d.BootMedium})
	}
	return disks, nil
}

// CheckWritable refuses a disk that must not be written (mounted, in use,
// the boot medium, a partition), through pkg/disk.
func (s *linuxSystem) CheckWritable(ctx context.Context, path string, bootMedium string) error {
	var media []string
	if bootMedium != "" {
		media = append(media, "/dev/"+bootMedium)
	}
	return disk.CheckWritable(path, media...)
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
