// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"golang.org/x/sys/unix"
)

// attachLoop attaches path to a free loop device and detaches it when the
// test ends, whatever happens.
func attachLoop(t *testing.T, path string, args ...string) string {
	t.Helper()
	testutil.NeedRoot(t)
	losetup := testutil.NeedTool(t, "losetup")[0]
	out, err := exec.Command(losetup, append(append([]string{"-f", "--show"}, args...), path)...).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -f --show %s: %v\n%s", path, err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v\n%s", dev, err, out)
		}
	})
	return dev
}

// mountOn mounts dev on a fresh directory and unmounts it when the test ends;
// unmount returns early (and makes the cleanup a no-op).
func mountOn(t *testing.T, dev string) (dir string, unmount func()) {
	t.Helper()
	dir = t.TempDir()
	run(t, "", "mount", dev, dir)
	mounted := true
	unmount = func() {
		if mounted {
			mounted = false
			run(t, "", "umount", dir)
		}
	}
	t.Cleanup(unmount)
	return dir, unmount
}

// wantRefused checks that err wraps ErrRefused, is one line and says each of
// the wanted phrases.
func wantRefused(t *testing.T, call string, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, ErrRefused) {
		t.Errorf("%s = %v, want ErrRefused", call, err)
		return
	}
	t.Logf("%s = %v", call, err)
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%s = %q, want one line", call, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s = %q, want it to say %q", call, err, w)
		}
	}
}

func TestCheckWritableMountedLoop(t *testing.T) {
	testutil.NeedTool(t, "mkfs.ext4", "mount", "umount")
	img := sparseFile(t, "fs.img", 16*mib)
	dev := attachLoop(t, img)
	run(t, "", "mkfs.ext4", "-q", "-F", dev)
	if err := CheckWritable(dev); err != nil {
		t.Fatalf("CheckWritable(%s, unmounted) = %v, want nil", dev, err)
	}
	if err := CheckWritable(img); err != nil {
		t.Fatalf("CheckWritable(%s, backing an unmounted loop) = %v, want nil", img, err)
	}
	dir, unmount := mountOn(t, dev)
	wantRefused(t, "CheckWritable(mounted "+dev+")", CheckWritable(dev), dev+" is mounted at "+dir, "umount "+dir)
	wantRefused(t, "CheckWritable(image of mounted loop)", CheckWritable(img), "it backs "+dev, "losetup -d "+dev)
	if _, err := OpenWrite(dev); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("OpenWrite(mounted %s) = %v, want an 'in use' error (O_EXCL)", dev, err)
	}
	unmount()
	if err := CheckWritable(dev); err != nil {
		t.Errorf("CheckWritable(%s, unmounted again) = %v, want nil", dev, err)
	}
}

// TestCheckCapturableMounted: a disk whose filesystem is mounted cannot be
// imaged consistently: CheckCapturable says so, through the device and
// through the image file behind it, and no longer once it is unmounted.
func TestCheckCapturableMounted(t *testing.T) {
	testutil.NeedTool(t, "mkfs.ext4", "mount", "umount")
	img := sparseFile(t, "fs.img", 16*mib)
	dev := attachLoop(t, img)
	run(t, "", "mkfs.ext4", "-q", "-F", dev)
	if err := CheckCapturable(dev); err != nil {
		t.Fatalf("CheckCapturable(%s, unmounted) = %v, want nil", dev, err)
	}
	dir, unmount := mountOn(t, dev)
	for _, p := range []string{dev, img} {
		err := CheckCapturable(p)
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "is mounted at "+dir) || errors.Is(err, ErrRefused) {
			t.Errorf("CheckCapturable(%s, mounted at %s) = %v, want ErrInUse naming the mount", p, dir, err)
		}
	}
	unmount()
	for _, p := range []string{dev, img} {
		if err := CheckCapturable(p); err != nil {
			t.Errorf("CheckCapturable(%s, unmounted again) = %v, want nil", p, err)
		}
	}
}

// TestCheckCapturableMountedPartition: a partition of a disk image mounted
// through a loop device at its offset makes the image refused.
func TestCheckCapturableMountedPartition(t *testing.T) {
	testutil.NeedTool(t, "sfdisk", "mkfs.ext4", "mount", "umount")
	img := sfdiskImage(t, 32*mib, "label: gpt\nstart=2048, size=40960, type=linux\n")
	part := attachLoop(t, img, "-o", "1048576", "--sizelimit", "20971520")
	run(t, "", "mkfs.ext4", "-q", "-F", part)
	if err := CheckCapturable(img); err != nil {
		t.Fatalf("CheckCapturable(%s, partition unmounted) = %v, want nil", img, err)
	}
	dir, _ := mountOn(t, part)
	if err := CheckCapturable(img); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "it backs "+part) || !strings.Contains(err.Error(), dir) {
		t.Errorf("CheckCapturable(%s, partition mounted at %s) = %v, want ErrInUse naming %s and the mount", img, dir, err, part)
	}
}

func TestCheckWritableSwap(t *testing.T) {
	testutil.NeedTool(t, "mkswap", "swapon", "swapoff")
	img := sparseFile(t, "swap.img", 8*mib)
	dev := attachLoop(t, img)
	run(t, "", "mkswap", "-q", dev)
	run(t, "", "swapon", dev)
	on := true
	swapoff := func() {
		if on {
			on = false
			run(t, "", "swapoff", dev)
		}
	}
	t.Cleanup(swapoff)
	wantRefused(t, "CheckWritable(swap "+dev+")", CheckWritable(dev), "in use as swap", "swapoff "+dev)
	swapoff()
	if err := CheckWritable(dev); err != nil {
		t.Errorf("CheckWritable(%s, swap off) = %v, want nil", dev, err)
	}
}

func TestCheckWritableBootMedium(t *testing.T) {
	dev := attachLoop(t, sparseFile(t, "stick.img", 4*mib))
	wantRefused(t, "CheckWritable(boot medium)", CheckWritable(dev, dev), "boot environment was started from")
	if err := CheckWritable(dev, "/dev/some-other-stick"); err != nil {
		t.Errorf("CheckWritable(%s, other boot medium) = %v, want nil", dev, err)
	}
}

// The disk holding this machine's root filesystem, which must be a block
// device, is refused. Its node is made in a temporary directory when /dev
// has none, as in some containers: CheckWritable goes by device number.
func TestCheckWritableRootDisk(t *testing.T) {
	testutil.NeedRoot(t)
	var devnum string
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("finding the root filesystem: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 && fs[4] == "/" {
			devnum = fs[2]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading /proc/self/mountinfo: %v", err)
	}
	link, err := os.Readlink("/sys/dev/block/" + devnum)
	if err != nil {
		testutil.Missing(t, "the root filesystem (device %s) is not on a block device, so there is no root disk to refuse: %v", devnum, err)
	}
	name := filepath.Base(link)
	if p := (Host{}).parentDisk(name); p != "" {
		name = p
	}
	wantRefused(t, "CheckWritable(root disk "+name+")", CheckWritable(blockNode(t, name)), "root filesystem")
}

func TestCheckWritableNotADisk(t *testing.T) {
	wantRefused(t, "CheckWritable(/dev/null)", CheckWritable("/dev/null"), "neither a disk nor a disk image file")
	if err := CheckWritable("/nonexistent/disk"); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("CheckWritable(missing) = %v, want a not-found error", err)
	}
}

// fakeHost builds a small sysfs and procfs:
//
//	sda: clean, with partition sda1
//	sdb: sdb1 holds dm-0, mounted at /home
//	sdc: sdc2 is swap
//	sdd: sdd2 holds the root filesystem
//	sde: the boot medium (given as its partition /dev/sde1)
//	zram0, ram0, sr0, dm-0, loop0 (no backing file): not disks to list
func fakeHost(t *testing.T) Host {
	t.Helper()
	root := t.TempDir()
	sys, proc := filepath.Join(root, "sys"), filepath.Join(root, "proc")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(name, target string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(sys, "class", "block"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(sys, "block", target), filepath.Join(sys, "class", "block", name)); err != nil {
			t.Fatal(err)
		}
	}
	disk := func(name string, major, minor int, parts ...string) {
		write(filepath.Join(sys, "block", name, "dev"), itoa(int64(major))+":"+itoa(int64(minor)))
		write(filepath.Join(sys, "block", name, "size"), "2048")
		write(filepath.Join(sys, "block", name, "removable"), "0")
		write(filepath.Join(sys, "block", name, "device", "model"), "Fake "+name)
		link(name, name)
		for i, p := range parts {
			write(filepath.Join(sys, "block", name, p, "dev"), itoa(int64(major))+":"+itoa(int64(minor+i+1)))
			write(filepath.Join(sys, "block", name, p, "partition"), itoa(int64(i+1)))
			link(p, filepath.Join(name, p))
		}
	}
	disk("sda", 8, 0, "sda1")
	disk("sdb", 8, 16, "sdb1")
	disk("sdc", 8, 32, "sdc1", "sdc2")
	disk("sdd", 8, 48, "sdd1", "sdd2")
	disk("sde", 8, 64, "sde1")
	disk("sdf", 8, 80, "sdf1")
	write(filepath.Join(sys, "block", "sde", "removable"), "1")
	disk("dm-0", 254, 3)
	write(filepath.Join(sys, "block", "sdb", "sdb1", "holders", "dm-0"), "")
	disk("zram0", 252, 0)
	disk("ram0", 1, 0)
	disk("sr0", 11, 0)
	disk("loop0", 7, 0)
	write(filepath.Join(proc, "self", "mountinfo"), strings.Join([]string{
		`22 27 0:21 / /proc rw,relatime - proc proc rw`,
		`27 1 8:50 / / rw,relatime - ext4 /dev/sdd2 rw`,
		`28 27 254:3 / /home\040dir rw,relatime - ext4 /dev/mapper/vg-home rw`,
		`29 27 8:81 / /srv/root\040filesystem rw,relatime - ext4 /dev/sdf1 rw`,
	}, "\n"))
	write(filepath.Join(proc, "swaps"), "Filename\tType\tSize\tUsed\tPriority\n/dev/sdc2   partition\t1024\t0\t-2")
	return Host{SysRoot: sys, ProcRoot: proc, BootMedia: []string{"/dev/sde1"}}
}

func TestDiskRefusalFakeSysfs(t *testing.T) {
	h := fakeHost(t)
	for _, tc := range []struct {
		name        string
		want        string
		boot, inUse bool // errors.Is ErrBootMedium, ErrInUse
	}{
		{"sda", "", false, false},
		{"sda1", "sda1 is partition 1 of disk /dev/sda, not a whole disk; name /dev/sda instead", false, false},
		{"sdc2", "sdc2 is partition 2 of disk /dev/sdc, not a whole disk; name /dev/sdc instead", false, false},
		{"sdb", "/dev/sdb is mounted at /home dir (through /dev/dm-0); unmount it first (umount /home dir)", false, true},
		{"sdc", "/dev/sdc is in use as swap (through /dev/sdc2); turn it off first (swapoff /dev/sdc2)", false, true},
		{"sdd", "/dev/sdd holds the running system's root filesystem (through /dev/sdd2); choose another disk", true, true},
		{"sde", "/dev/sde is the disk this boot environment was started from; choose another disk", true, false},
		// Mounted where the words "root filesystem" appear: not the system's disk.
		{"sdf", "/dev/sdf is mounted at /srv/root filesystem (through /dev/sdf1); unmount it first (umount /srv/root filesystem)", false, true},
	} {
		err := h.diskRefusal(tc.name)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want || errors.Is(err, ErrBootMedium) != tc.boot || errors.Is(err, ErrInUse) != tc.inUse {
			t.Errorf("diskRefusal(%s) = %q, boot medium %v, in use %v; want %q, %v, %v",
				tc.name, got, errors.Is(err, ErrBootMedium), errors.Is(err, ErrInUse), tc.want, tc.boot, tc.inUse)
		}
	}
}

func TestListDisksFakeSysfs(t *testing.T) {
	h := fakeHost(t)
	got, err := h.ListDisks()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name            string
		Size            int64
		Model           string
		Removable, Boot bool
		Refused         bool
	}
	var rows []row
	for _, d := range got {
		rows = append(rows, row{d.Name, d.Size, d.Model, d.Removable, d.BootMedium, d.Refusal != ""})
	}
	want := []row{
		{"sda", 1 * mib, "Fake sda", false, false, false},
		{"sdb", 1 * mib, "Fake sdb", false, false, true},
		{"sdc", 1 * mib, "Fake sdc", false, false, true},
		{"sdd", 1 * mib, "Fake sdd", false, true, true},
		{"sde", 1 * mib, "Fake sde", true, true, true},
		{"sdf", 1 * mib, "Fake sdf", false, false, true},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("ListDisks(fake sysfs) (-want +got):\n%s", diff)
	}
}

// On the real machine ListDisks lists whole disks only, and lists a loop
// device attached here, with its exact size, as a disk that may be written.
func TestListDisksHost(t *testing.T) {
	const size = 6*mib + 3*512
	dev := attachLoop(t, sparseFile(t, "disk.img", size))
	name := strings.TrimPrefix(dev, "/dev/")
	disks, err := ListDisks()
	if err != nil {
		t.Fatalf("ListDisks() = %v", err)
	}
	var found []DiskInfo
	for _, d := range disks {
		if strings.HasPrefix(d.Name, "zram") || strings.HasPrefix(d.Name, "ram") || d.Size <= 0 || d.Path != "/dev/"+d.Name {
			t.Errorf("ListDisks() lists %+v", d)
		}
		if d.Name == name {
			found = append(found, d)
		}
	}
	want := []DiskInfo{{Name: name, Path: dev, Size: size}}
	if diff := cmp.Diff(want, found); diff != "" {
		t.Errorf("ListDisks() entries for the loop device %s (-want +got):\n%s\nall: %+v", dev, diff, disks)
	}
	disks, err = ListDisks(dev)
	if err != nil {
		t.Fatalf("ListDisks(%s) = %v", dev, err)
	}
	for _, d := range disks {
		if d.Name == name && (!d.BootMedium || d.Refusal == "") {
			t.Errorf("ListDisks(boot medium %s) lists %+v, want it marked as the boot medium and refused", dev, d)
		}
	}
}

// A real partition node is refused naming its disk: a loop device with
// partition scanning on an image holding a GPT gets one.
func TestCheckWritableRealPartition(t *testing.T) {
	img := sfdiskImage(t, 8*mib, "label: gpt\nstart=2048, size=4096, type=L\n")
	dev := attachLoop(t, img, "--partscan")
	disk := strings.TrimPrefix(dev, "/dev/")
	part := disk + "p1"
	if _, err := os.Stat("/sys/class/block/" + part); err != nil {
		// The kernel scans at attach time; partx asks again where that did not happen.
		run(t, "", "partx", "--add", dev)
	}
	wantRefused(t, "CheckWritable("+part+")", CheckWritable(blockNode(t, part)), "partition 1 of disk /dev/"+disk, "name /dev/"+disk+" instead")
}

// blockNode returns /dev/name, or where /dev has no node for the block
// device name (no udev in a container), a node for it made in a temporary
// directory from its device number in sysfs.
func blockNode(t *testing.T, name string) string {
	t.Helper()
	if fi, err := os.Stat("/dev/" + name); err == nil && fi.Mode()&os.ModeDevice != 0 {
		return "/dev/" + name
	}
	b, err := os.ReadFile("/sys/class/block/" + name + "/dev")
	if err != nil {
		t.Fatalf("device number of %s: %v", name, err)
	}
	var major, minor uint32
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &major, &minor); err != nil {
		t.Fatalf("device number of %s: %q: %v", name, b, err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil {
		t.Fatalf("mknod %s b %d %d: %v", p, major, minor, err)
	}
	return p
}

func TestModelSerialFakeSysfs(t *testing.T) {
	root := t.TempDir()
	write := func(p string, b []byte) {
		t.Helper()
		p = filepath.Join(root, "class", "block", p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// NVMe: the controller has model and serial.
	write("nvme0n1/device/model", []byte("Samsung SSD 980 PRO 1TB                 \n"))
	write("nvme0n1/device/serial", []byte("S5GXNF0R123456      \n"))
	// SATA: vendor "ATA" is not shown, the serial comes from VPD page 0x80.
	write("sda/device/vendor", []byte("ATA     \n"))
	write("sda/device/model", []byte("WDC WD10EZEX-00B\n"))
	write("sda/device/vpd_pg80", append([]byte{0, 0x80, 0, 20}, []byte("     WD-WCC3F1234567")...))
	// USB stick: vendor and model; the wwid as the last resort.
	write("sdb/device/vendor", []byte("SanDisk \n"))
	write("sdb/device/model", []byte("Cruzer Blade    \n"))
	write("sdb/device/wwid", []byte("t10.SanDisk Cruzer Blade 4C530001\n"))
	// virtio: the serial sits on the block device itself.
	write("vda/serial", []byte("rewind-test\n"))
	h := Host{SysRoot: root}
	for _, tc := range []struct{ name, model, serial string }{
		{"nvme0n1", "Samsung SSD 980 PRO 1TB", "S5GXNF0R123456"},
		{"sda", "WDC WD10EZEX-00B", "WD-WCC3F1234567"},
		{"sdb", "SanDisk Cruzer Blade", "t10.SanDisk Cruzer Blade 4C530001"},
		{"vda", "", "rewind-test"},
		{"sdz", "", ""},
	} {
		if model, serial := h.modelSerial(tc.name); model != tc.model || serial != tc.serial {
			t.Errorf("modelSerial(%s) = %q, %q, want %q, %q", tc.name, model, serial, tc.model, tc.serial)
		}
	}
}

// TestUnreadableMountTable: a disk whose mounts cannot be read is not taken
// for an unmounted one.
func TestUnreadableMountTable(t *testing.T) {
	h := fakeHost(t)
	if err := os.Remove(filepath.Join(h.ProcRoot, "self", "mountinfo")); err != nil {
		t.Fatal(err)
	}
	got, err := h.ListDisks()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if d.Name == "sda" && d.Refusal == "" {
			t.Errorf("ListDisks without a mount table offers sda as writable, want it refused")
		}
	}
}
