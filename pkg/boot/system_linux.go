// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/netcfg"
)

// mediumDir is where the boot medium is mounted, read-only.
const mediumDir = "/run/rewind/medium"

// linuxSystem is the running Linux machine, as seen from the initramfs.
type linuxSystem struct {
	mods    *moduleLoader
	modsErr error
	fsDone  bool
}

// NewSystem returns the System of the running Linux machine.
func NewSystem() System {
	m, err := newModuleLoader()
	return &linuxSystem{mods: m, modsErr: err}
}

func (s *linuxSystem) LoadModules(ctx context.Context) ([]string, error) {
	if s.mods == nil {
		err := s.modsErr
		s.modsErr = nil // say it once
		return nil, err
	}
	return s.mods.load(ctx)
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
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}

func (s *linuxSystem) PowerOff() error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
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
			fmt.Fprintf(os.Stdout, "rewind: warning: filesystem modules: %s\n", oneLine(err.Error()))
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

// ListDisks lists whole disks from /sys/block, leaving out loop, RAM,
// optical, floppy and device-mapper devices.
func (s *linuxSystem) ListDisks(ctx context.Context) ([]Disk, error) {
	ents, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil, fmt.Errorf("listing /sys/block: %w", err)
	}
	var disks []Disk
	for _, e := range ents {
		n := e.Name()
		if hasAnyPrefix(n, "loop", "ram", "zram", "sr", "fd", "dm-", "md", "nbd") {
			continue
		}
		dir := filepath.Join("/sys/block", n)
		sectors, _ := strconv.ParseInt(readTrim(filepath.Join(dir, "size")), 10, 64)
		if sectors == 0 {
			continue
		}
		d := Disk{Name: n, Path: "/dev/" + n, Size: sectors * 512, Model: readTrim(filepath.Join(dir, "device/model"))}
		for _, f := range []string{"serial", "device/serial"} {
			if v := readTrim(filepath.Join(dir, f)); v != "" {
				d.Serial = v
				break
			}
		}
		if d.Serial == "" {
			if b, err := os.ReadFile(filepath.Join(dir, "device/vpd_pg80")); err == nil && len(b) > 4 {
				d.Serial = strings.TrimSpace(string(bytes.Trim(b[4:], "\x00")))
			}
		}
		disks = append(disks, d)
	}
	return disks, nil
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func hasAnyPrefix(s string, ps ...string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
