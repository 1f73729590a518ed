// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"bufio"
	"encoding/json"
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

// The shop LAN the test makes: two network namespaces joined by a veth
// pair. "server" holds a bridge (192.168.77.2, the NAS or technician's
// laptop running rewind pxe serve and Samba) with the VMs' tap devices on
// it; "router" holds the shop router (192.168.77.1), a dnsmasq handing out
// addresses with no PXE options at all.
const (
	lanServer = "192.168.77.2"
	lanRouter = "192.168.77.1"
	taskVMMAC = "52:54:00:12:34:56"
	menuVMMAC = "52:54:00:ab:cd:ef"
	uefiVMMAC = "52:54:00:12:34:57"
)

type testLAN struct{ server, router string }

func newTestLAN(t *testing.T, tag string) *testLAN {
	t.Helper()
	id := tag + fmt.Sprint(os.Getpid())
	n := &testLAN{server: "rwpxe-s" + id, router: "rwpxe-r" + id}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{n.server, n.router} {
		ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ip("-n", ns, "link", "set", "lo", "up")
	}
	s, r := []string{"-n", n.server}, []string{"-n", n.router}
	ip(append(s, "link", "add", "br0", "type", "bridge", "stp_state", "0")...)
	ip(append(s, "addr", "add", lanServer+"/24", "dev", "br0")...)
	ip(append(s, "link", "set", "br0", "up")...)
	ip(append(s, "link", "add", "vs", "type", "veth", "peer", "name", "vr", "netns", n.router)...)
	ip(append(s, "link", "set", "vs", "master", "br0", "up")...)
	ip(append(r, "addr", "add", lanRouter+"/24", "dev", "vr")...)
	ip(append(r, "link", "set", "vr", "up")...)
	for _, tap := range []string{"tap0", "tap1", "tap2"} {
		ip(append(s, "tuntap", "add", "dev", tap, "mode", "tap")...)
		ip(append(s, "link", "set", tap, "master", "br0", "up")...)
	}
	return n
}

// startRouter starts the shop router: dnsmasq handing out addresses, no PXE.
func (n *testLAN) startRouter(t *testing.T, log *logLines, dir string) {
	n.start(t, n.router, log, "dnsmasq: ", "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=vr", "--bind-interfaces", "--user=root",
		"--dhcp-range=192.168.77.100,192.168.77.150,255.255.255.0,10m",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--log-dhcp", "--log-facility=-")
}

// start runs a long-lived command in namespace ns, its output lines into
// log (with prefix), and kills it when the test ends.
func (n *testLAN) start(t *testing.T, ns string, log *logLines, prefix string, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.logf("%s%s", prefix, sc.Text())
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
}

// localDisk is a disk whose MBR boot code writes a line to the first
// serial port and halts: the test sees "the local disk booted".
func localDisk(t *testing.T) string {
	msg := "rewind-test: local disk booted\r\n\x00"
	code := []byte{
		0xbe, 0x11, 0x7c, // mov si, 0x7c11 (msg)
		0xba, 0xf8, 0x03, // mov dx, 0x3f8 (COM1)
		0xac,       // lodsb
		0x84, 0xc0, // test al, al
		0x74, 0x03, // jz +3 (hlt)
		0xee,       // out dx, al
		0xeb, 0xf8, // jmp lodsb
		0xf4,       // hlt
		0xeb, 0xfd, // jmp hlt
	}
	mbr := make([]byte, 1<<20)
	copy(mbr, append(code, msg...))
	mbr[510], mbr[511] = 0x55, 0xaa
	p := filepath.Join(t.TempDir(), "local.img")
	if err := os.WriteFile(p, mbr, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVMPXEServe is the shop LAN end to end. dnsmasq plays the router's
// DHCP server (no PXE options); rewind pxe serve runs beside it in
// proxy-DHCP mode. A VM (SeaBIOS, QEMU's iPXE NIC ROM, a tap on the
// bridge) whose MAC has a one-shot capture task boots from the network
// into the environment, captures its disk into the Samba share next to
// the server, reports done, and the task is cleared; a VM whose MAC has
// no task gets the menu and, untouched, boots its local disk.
func TestVMPXEServe(t *testing.T) {
	if testing.Short() {
		t.Skip("VM test; -short")
	}
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "ip", "dnsmasq", "qemu-system-x86_64", "smbd")
	bundle := filepath.Dir(qemutest.Make(t, []string{"build", "pxe"}, "out/rewind", "out/pxe/vmlinuz", "out/pxe/initramfs.cpio.zst")[1])
	rewind := qemutest.Rewind(t, "pxe", "init", "images")
	lan := newTestLAN(t, "a")
	log := newLog(t)
	dir := t.TempDir()
	lan.startRouter(t, log, dir)

	smb := sambatest.Start(t, sambatest.Options{Netns: lan.server, Addr: lanServer})
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(rewind, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("rewind %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The share's folder is the repository; the host makes it as a
	// local folder, the guest reaches it over SMB.
	run("init", "--repo", smb.ShareDir)
	tasks := filepath.Join(dir, "tasks.json")
	run("pxe", "task", "add", "--tasks", tasks, "--mac", taskVMMAC, "--machine", "pxe-guest", "capture", "--once", "--then", "poweroff")
	run("pxe", "task", "add", "--tasks", tasks, "--mac", uefiVMMAC, "--machine", "uefi-guest", "wizard")

	lan.start(t, lan.server, log, "serve: ", rewind, "pxe", "serve", "--bundle", bundle, "--interface", "br0",
		"--http", lanServer+":8080", "--tasks", tasks, "--repo", smb.URL(), "--password-file", smb.PasswordFile,
		"--kernel-args", "console=tty0 console=ttyS0,115200 panic=-1", "--menu-timeout", "2s")
	log.wait("serving "+bundle, 1, 30*time.Second)

	wrap := []string{"ip", "netns", "exec", lan.server}
	t.Run("task", func(t *testing.T) {
		source := testutil.SampleDisk(t, 32<<20)
		v := qemutest.StartWith(t, wrap,
			"-machine", "pc", "-m", "1024", "-smp", "1", "-no-reboot",
			"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n0,mac="+taskVMMAC+",bootindex=0",
			"-drive", "file="+source+",if=none,id=d0,format=raw,snapshot=on",
			"-device", "virtio-blk-pci,drive=d0",
			"-device", "virtio-rng-pci",
		)
		v.Expect(`Linux version 6\.12`, 5*time.Minute)
		v.Expect(`rewind: settings: task=capture repo=smb://\S+@192\.168\.77\.2:445/rewind machine=pxe-guest .*target=only after=poweroff password_file=/etc/rewind/password report=http://192\.168\.77\.2:8080/done/52-54-00-12-34-56`, 2*time.Minute)
		v.Expect(`rewind: network: eth0 192\.168\.77\.1[0-5][0-9]/24`, time.Minute)
		ready := v.Expect(`rewind: ready after ([0-9.]+)s`, time.Minute)
		t.Logf("PXE (BIOS, proxy-DHCP beside dnsmasq): QEMU start to rewind ready %v wall clock; guest uptime %ss", v.Elapsed().Round(100*time.Millisecond), ready[1])
		m := v.Expect(`rewind: (result|error:) ([^\r\n]*)\r?\n`, 5*time.Minute)
		if m[1] != "result" || !strings.Contains(m[2], `"ok":true`) {
			t.Fatalf("the capture did not succeed: %s", m[2])
		}
		v.Expect(`rewind: report: sent to http://192\.168\.77\.2:8080/done/52-54-00-12-34-56`, time.Minute)
		v.Expect(`rewind: powering off`, time.Minute)
		if err := v.Wait(time.Minute); err != nil {
			t.Errorf("the VM did not power off: %v", err)
		}
		log.wait("reported task capture ok=true; task cleared (one-shot)", 1, 10*time.Second)
		if strings.Contains(v.Console(), smb.Password()) {
			t.Error("the password appeared on the guest's console")
		}

		f, err := OpenTasks(tasks).Load()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := findTask(f, taskVMMAC); ok {
			t.Errorf("the one-shot task is still in %s", tasks)
		}
		if r, ok := f.LastResult(taskVMMAC); !ok || !r.OK || !r.Cleared {
			t.Errorf("last result of %s = %+v, %v; want ok and cleared", taskVMMAC, r, ok)
		}
		var imgs struct {
			Machines map[string][]struct{ ID string } `json:"machines"`
		}
		if err := json.Unmarshal([]byte(lastLine(run("images", "--repo", smb.ShareDir, "--json"))), &imgs); err != nil {
			t.Fatal(err)
		}
		if len(imgs.Machines["pxe-guest"]) != 1 {
			t.Errorf("the repository holds images %v, want one of pxe-guest", imgs.Machines)
		}
		for _, want := range []string{
			"dhcp: " + taskVMMAC + " (iPXE, arch 0) OFFER on port 67: boot file http://192.168.77.2:8080/boot/52-54-00-12-34-56",
			taskVMMAC + ": task capture for machine pxe-guest",
			taskVMMAC + ": settings (password file) sent",
			"sent \"vmlinuz\"", "sent \"initramfs.cpio.zst\"",
		} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("the server's log lacks %q", want)
			}
		}
		if strings.Contains(log.String(), smb.Password()) {
			t.Error("the password appeared in the server's log")
		}
	})

	t.Run("menu", func(t *testing.T) {
		v := qemutest.StartWith(t, wrap,
			"-machine", "pc", "-m", "256", "-smp", "1", "-no-reboot",
			"-netdev", "tap,id=n1,ifname=tap1,script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n1,mac="+menuVMMAC+",bootindex=0",
			"-drive", "file="+localDisk(t)+",if=none,id=d1,format=raw,snapshot=on",
			"-device", "virtio-blk-pci,drive=d1,bootindex=1",
		)
		v.Expect(`rewind-test: local disk booted`, 3*time.Minute)
		t.Logf("menu: QEMU start to the local disk's boot code %v", v.Elapsed().Round(100*time.Millisecond))
		log.wait(menuVMMAC+" has no task: menu", 1, 10*time.Second)
		if strings.Contains(log.String(), menuVMMAC+": settings") {
			t.Error("a machine without a task was sent settings")
		}
	})
	// UEFI without Secure Boot, through the firmware's own PXE (no iPXE
	// ROM on the NIC): proxy-DHCP sends it ipxe.efi by TFTP, which asks
	// again as iPXE and gets the machine's script over HTTP; both initrds
	// reach the kernel through iPXE's EFI initrd support.
	t.Run("uefi", func(t *testing.T) {
		code, vars := firmware(t, "OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd")
		v := qemutest.StartWith(t, wrap,
			"-machine", "q35", "-m", "1024", "-smp", "1", "-no-reboot",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars,
			"-netdev", "tap,id=n2,ifname=tap2,script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n2,mac="+uefiVMMAC+",romfile=,bootindex=0",
			"-device", "virtio-rng-pci",
		)
		v.Expect(`Linux version 6\.12`, 6*time.Minute)
		v.Expect(`rewind: settings: task=wizard repo=smb://\S+@192\.168\.77\.2:445/rewind machine=uefi-guest .*password_file=/etc/rewind/password`, 2*time.Minute)
		ready := v.Expect(`rewind: ready after ([0-9.]+)s`, 2*time.Minute)
		t.Logf("PXE (UEFI, firmware PXE -> TFTP ipxe.efi -> HTTP): QEMU start to rewind ready %v wall clock; guest uptime %ss", v.Elapsed().Round(100*time.Millisecond), ready[1])
		for _, want := range []string{
			"dhcp: " + uefiVMMAC + " (UEFI, arch 7)",
			"sent \"ipxe.efi\"",
			"dhcp: " + uefiVMMAC + " (iPXE, arch 7)",
			uefiVMMAC + ": settings (password file) sent",
		} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("the server's log lacks %q", want)
			}
		}
	})
	t.Logf("server and dnsmasq log:\n%s", log)
}

// firmware returns the OVMF code image and a writable copy of its
// variable store, skipping (failing under REWIND_REQUIRE_TOOLS=1) without
// them.
func firmware(t *testing.T, code, vars string) (string, string) {
	t.Helper()
	code = filepath.Join("/usr/share/OVMF", code)
	b, err := os.ReadFile(filepath.Join("/usr/share/OVMF", vars))
	if err == nil {
		_, err = os.Stat(code)
	}
	if err != nil {
		testutil.Missing(t, "OVMF: %v (scripts/deps installs ovmf)", err)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(vars))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return code, p
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func findTask(f TasksFile, mac string) (Task, bool) {
	for _, t := range f.Tasks {
		if t.MAC == mac {
			return t, true
		}
	}
	return Task{}, false
}

// TestVMPXEBench is the isolated bench network: no router, rewind pxe
// serve --dhcp-range is the DHCP server. A VM with QEMU's iPXE ROM gets its
// address and the menu from it and, untouched, boots its local disk.
func TestVMPXEBench(t *testing.T) {
	if testing.Short() {
		t.Skip("VM test; -short")
	}
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "ip", "qemu-system-x86_64")
	bundle := filepath.Dir(qemutest.Make(t, []string{"build", "pxe"}, "out/rewind", "out/pxe/vmlinuz", "out/pxe/initramfs.cpio.zst")[1])
	rewind := qemutest.Rewind(t, "pxe")
	ns := "rwpxe-b" + fmt.Sprint(os.Getpid())
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "add", "br0", "type", "bridge", "stp_state", "0"},
		{"-n", ns, "addr", "add", "192.168.50.1/24", "dev", "br0"},
		{"-n", ns, "link", "set", "br0", "up"},
		{"-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap"},
		{"-n", ns, "link", "set", "tap0", "master", "br0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "netns" {
			t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		}
	}
	log := newLog(t)
	lan := &testLAN{server: ns}
	lan.start(t, ns, log, "serve: ", rewind, "pxe", "serve", "--bundle", bundle, "--interface", "br0",
		"--http", "192.168.50.1:8080", "--tasks", filepath.Join(t.TempDir(), "tasks.json"),
		"--dhcp-range", "192.168.50.100-192.168.50.120", "--menu-timeout", "2s")
	log.wait("full DHCP on br0", 1, 30*time.Second)
	v := qemutest.StartWith(t, []string{"ip", "netns", "exec", ns},
		"-machine", "pc", "-m", "256", "-smp", "1", "-no-reboot",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+menuVMMAC+",bootindex=0",
		"-drive", "file="+localDisk(t)+",if=none,id=d0,format=raw,snapshot=on",
		"-device", "virtio-blk-pci,drive=d0,bootindex=1",
	)
	v.Expect(`rewind-test: local disk booted`, 3*time.Minute)
	for _, want := range []string{
		"dhcp: " + menuVMMAC + " OFFER 192.168.50.100, boot file http://192.168.50.1:8080/boot/52-54-00-ab-cd-ef",
		"dhcp: " + menuVMMAC + " ACK 192.168.50.100",
		menuVMMAC + " has no task: menu",
	} {
		log.wait(want, 1, 10*time.Second)
	}
	t.Logf("server log:\n%s", log)
}

// TestVMPXESecureBoot: OVMF with Secure Boot enforced (Microsoft's keys,
// as shipped PCs have) boots from the network, beside the router's DHCP,
// through Debian's signed shim and network GRUB into the signed kernel,
// which reports lockdown; no key is enrolled. GRUB gets its per-MAC
// configuration and the settings archive (the password file) by TFTP.
func TestVMPXESecureBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("VM test; -short")
	}
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "ip", "dnsmasq", "qemu-system-x86_64")
	bundle := filepath.Dir(qemutest.Make(t, []string{"build", "pxe"}, "out/rewind", "out/pxe/vmlinuz", "out/pxe/initramfs.cpio.zst", "out/pxe/shimx64.efi")[1])
	rewind := qemutest.Rewind(t, "pxe")
	code, vars := firmware(t, "OVMF_CODE_4M.ms.fd", "OVMF_VARS_4M.ms.fd")
	lan := newTestLAN(t, "sb")
	log := newLog(t)
	dir := t.TempDir()
	lan.startRouter(t, log, dir)
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("not on any command line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tasks := filepath.Join(dir, "tasks.json")
	const mac = "52:54:00:12:34:58"
	if out, err := exec.Command(rewind, "pxe", "task", "add", "--tasks", tasks, "--mac", mac, "--machine", "sb-guest", "wizard").CombinedOutput(); err != nil {
		t.Fatalf("task add: %v\n%s", err, out)
	}
	lan.start(t, lan.server, log, "serve: ", rewind, "pxe", "serve", "--bundle", bundle, "--interface", "br0",
		"--http", lanServer+":8080", "--tasks", tasks, "--password-file", pw, "--uefi", "shim",
		"--kernel-args", "console=tty0 console=ttyS0,115200 panic=-1")
	log.wait("serving "+bundle, 1, 30*time.Second)

	v := qemutest.StartWith(t, []string{"ip", "netns", "exec", lan.server},
		"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
		"-m", "1024", "-smp", "1", "-no-reboot",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac+",romfile=,bootindex=0",
		"-device", "virtio-rng-pci",
	)
	v.Expect(`rewind: wizard for machine sb-guest \(52:54:00:12:34:58\)`, 6*time.Minute) // GRUB's echo
	v.Expect(`Linux version 6\.12`, 3*time.Minute)
	v.Expect(`Kernel is locked down from EFI Secure Boot`, time.Minute)
	v.Expect(`[Ss]ecure boot enabled`, time.Minute)
	v.Expect(`rewind: settings: task=wizard machine=sb-guest .*password_file=/etc/rewind/password`, 2*time.Minute)
	ready := v.Expect(`rewind: ready after ([0-9.]+)s`, 2*time.Minute)
	t.Logf("PXE (UEFI Secure Boot, shim + GRUB over TFTP): QEMU start to rewind ready %v wall clock; guest uptime %ss", v.Elapsed().Round(100*time.Millisecond), ready[1])
	for _, want := range []string{
		"dhcp: " + mac + " (UEFI, arch 7) OFFER on port 67: boot file shimx64.efi",
		"sent \"shimx64.efi\"", "sent \"grubx64.efi\"",
		"tftp: 192.168.77.", mac + ": task wizard for machine sb-guest",
		mac + ": settings (password file) sent",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the server's log lacks %q", want)
		}
	}
	if strings.Contains(v.Console(), "not on any command line") {
		t.Error("the password appeared on the console")
	}
	t.Logf("server log:\n%s", log)
}
