// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/internal/qemutest"
)

// TestVMPXE boots the PXE bundle through QEMU's own iPXE ROM (SeaBIOS,
// virtio-net): QEMU's user network hands out a TFTP boot file, a two-line
// iPXE script as a PXE server would serve, which chains the bundle's
// boot.ipxe over HTTP from a server on 127.0.0.1 (10.0.2.2 in the guest);
// the kernel and initramfs come over HTTP too.
func TestVMPXE(t *testing.T) {
	if testing.Short() {
		t.Skip("VM test; -short")
	}
	script := qemutest.Make(t, []string{"pxe"}, "out/pxe/boot.ipxe", "out/pxe/vmlinuz", "out/pxe/initramfs.cpio.zst")[0]
	dir := filepath.Dir(script)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	served := map[string]bool{}
	files := http.FileServer(http.Dir(dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served[r.URL.Path] = true
		mu.Unlock()
		files.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	port := l.Addr().(*net.TCPAddr).Port

	// The bundle's kernel line ends with console=tty0 (the screen and
	// keyboard of a real machine); the last console= is the one rewind's
	// shell reads, so the test puts the serial port last.
	tftp := t.TempDir()
	start := fmt.Sprintf("#!ipxe\nset rewind-args rewind.task=shell rewind.machine=pxe-test console=ttyS0,115200\nchain http://10.0.2.2:%d/boot.ipxe\n", port)
	if err := os.WriteFile(filepath.Join(tftp, "start.ipxe"), []byte(start), 0o644); err != nil {
		t.Fatal(err)
	}

	v := qemutest.Start(t,
		"-machine", "pc", "-m", "1024", "-smp", "1", "-no-reboot",
		"-netdev", "user,id=n0,ipv6=off,tftp="+tftp+",bootfile=start.ipxe",
		"-device", "virtio-net-pci,netdev=n0,bootindex=0",
		"-device", "virtio-rng-pci",
	)
	// SeaBIOS and iPXE write to the (absent) screen only: the first word on
	// the serial console is the kernel's; the HTTP server's log below shows
	// that iPXE fetched the bundle.
	v.Expect(`Linux version 6\.12`, 5*time.Minute)
	v.Expect(`rewind: boot environment`, 2*time.Minute)
	v.Expect(`rewind: boot medium: none`, stepDeadline)
	v.Expect(`rewind: settings: task=shell machine=pxe-test`, stepDeadline)
	v.Expect(`rewind: network: eth0 10\.0\.2\.15/24`, stepDeadline)
	v.Expect(`rewind: ready after`, stepDeadline)
	t.Logf("PXE: firmware to rewind ready in %v (wall clock)", v.Elapsed().Round(100*time.Millisecond))
	stillUp(t, v)
	mu.Lock()
	defer mu.Unlock()
	for _, p := range []string{"/boot.ipxe", "/vmlinuz", "/initramfs.cpio.zst"} {
		if !served[p] {
			t.Errorf("the HTTP server never served %s", p)
		}
	}
}
