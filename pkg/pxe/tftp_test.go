// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// logLines collects a server's log and lets a test wait for a line.
type logLines struct {
	t    testing.TB
	mu   sync.Mutex
	all  []string
	more chan struct{}
}

func newLog(t testing.TB) *logLines { return &logLines{t: t, more: make(chan struct{}, 1)} }

func (l *logLines) logf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
}

// wait waits up to d for n log lines containing sub, in all.
func (l *logLines) wait(sub string, n int, d time.Duration) {
	l.t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		c := 0
		for _, s := range l.all {
			if strings.Contains(s, sub) {
				c++
			}
		}
		l.mu.Unlock()
		if c >= n {
			return
		}
		select {
		case <-l.more:
		case <-deadline:
			l.t.Fatalf("the log has %d lines with %q within %v, want %d:\n%s", c, sub, d, n, l.String())
		}
	}
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// testBundle makes a bundle folder with a first-stage file, a folder, and
// a symbolic link out of the bundle.
func testBundle(t *testing.T) (*Bundle, []byte) {
	dir := t.TempDir()
	data := make([]byte, 300_001)
	rand.Read(data)
	for name, b := range map[string][]byte{BootBIOS: data, Kernel: []byte("kernel"), Initramfs: []byte("initramfs")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "grub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "grub", "grub.cfg"), []byte("set timeout=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(secret, []byte("not for the network"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+filepath.Base(filepath.Dir(secret))+"/outside", filepath.Join(dir, "escape-rel")); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, data
}

func startTFTP(t *testing.T, s *TFTPServer) *net.UDPAddr {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve returned %v, want context.Canceled", err)
		}
	})
	return c.LocalAddr().(*net.UDPAddr)
}

func rrq(name string, opts ...string) []byte {
	p := binary.BigEndian.AppendUint16(nil, tftpRRQ)
	for _, s := range append([]string{name, "octet"}, opts...) {
		p = append(append(p, s...), 0)
	}
	return p
}

// ask sends a request from a fresh socket and returns the first packet
// that comes back.
func ask(t *testing.T, srv *net.UDPAddr, req []byte) ([]byte, *net.UDPConn, *net.UDPAddr) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.WriteToUDP(req, srv); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 2000)
	n, from, err := c.ReadFromUDP(b)
	if err != nil {
		t.Fatalf("no answer to a TFTP request: %v", err)
	}
	return b[:n], c, from
}

// TestTFTPCurl fetches a first-stage file with curl, a TFTP client that is
// not ours, with and without options, and with blocks small enough that
// block numbers wrap past 65535.
func TestTFTPCurl(t *testing.T) {
	curl := testutil.NeedTool(t, "curl")[0]
	b, data := testBundle(t)
	l := newLog(t)
	addr := startTFTP(t, &TFTPServer{Bundle: b, Log: l.logf})
	for _, blk := range []string{"", "1428", "8"} {
		t.Run("blksize="+blk, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "got")
			args := []string{"-sS", "--max-time", "60", "-o", out}
			if blk != "" {
				args = append(args, "--tftp-blksize", blk)
			} else {
				args = append(args, "--tftp-no-options")
			}
			args = append(args, fmt.Sprintf("tftp://%s/%s", addr, BootBIOS))
			if o, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
				t.Fatalf("curl %v: %v\n%s", args, err, o)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("curl got %d bytes, want the %d of %s", len(got), len(data), BootBIOS)
			}
		})
	}
	l.wait("sent \""+BootBIOS+"\"", 3, 10*time.Second)
}

// TestTFTPRefuses: names that leave the bundle, a folder, a write and
// garbage get an error packet and a log line; the server keeps serving.
func TestTFTPRefuses(t *testing.T) {
	b, _ := testBundle(t)
	l := newLog(t)
	addr := startTFTP(t, &TFTPServer{Bundle: b, Log: l.logf})
	for _, tc := range []struct {
		name string
		req  []byte
		code uint16
	}{
		{"../../etc/passwd", rrq("../../etc/passwd"), tftpErrAccess},
		{"/etc/passwd", rrq("/etc/passwd"), tftpErrNotFound}, // the bundle's /etc/passwd: none
		{"/../etc/passwd", rrq("/../etc/passwd"), tftpErrAccess},
		{"grub/../../x", rrq("grub/../../x"), tftpErrAccess},
		{"%2e%2e/%2e%2e/etc/passwd", rrq("%2e%2e/%2e%2e/etc/passwd"), tftpErrNotFound},
		{"backslashes", rrq(`..\..\etc\passwd`), tftpErrAccess},
		{"symlink out", rrq("escape"), tftpErrAccess},
		{"relative symlink out", rrq("escape-rel"), tftpErrAccess},
		{"a folder", rrq("grub"), tftpErrNotFound},
		{"netascii", append(binary.BigEndian.AppendUint16(nil, tftpRRQ), "undionly.kpxe\x00netascii\x00"...), tftpErrIllegal},
		{"a write", append(binary.BigEndian.AppendUint16(nil, tftpWRQ), "x\x00octet\x00"...), tftpErrIllegal},
		{"garbage", []byte{0, 1, 'x'}, tftpErrIllegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := ask(t, addr, tc.req)
			if len(p) < 4 || binary.BigEndian.Uint16(p) != tftpERROR {
				t.Fatalf("answer to %s = %q, want an ERROR packet", tc.name, p)
			}
			if code := binary.BigEndian.Uint16(p[2:]); code != tc.code {
				t.Errorf("error code for %s = %d, want %d (%q)", tc.name, code, tc.code, p[4:])
			}
			if bytes.Contains(p, []byte("not for the network")) || bytes.Contains(p, []byte("root:")) {
				t.Errorf("the answer to %s carries file content: %q", tc.name, p)
			}
		})
	}
	l.wait("refused", 9, 10*time.Second)
	l.wait("is not in the bundle", 3, 10*time.Second)
	// Still serving.
	p, _, _ := ask(t, addr, rrq("/grub/grub.cfg"))
	if binary.BigEndian.Uint16(p) != tftpDATA || string(p[4:]) != "set timeout=0\n" {
		t.Errorf("after the refusals, /grub/grub.cfg came back as %q", p)
	}
}

// TestTFTPSizeQuery: UEFI firmware asks for a file's size (tsize), then
// ends the transfer with error 8 and asks again; the log says so plainly.
func TestTFTPSizeQuery(t *testing.T) {
	b, data := testBundle(t)
	l := newLog(t)
	addr := startTFTP(t, &TFTPServer{Bundle: b, Log: l.logf})
	p, c, from := ask(t, addr, rrq(BootBIOS, "tsize", "0", "blksize", "1468"))
	if binary.BigEndian.Uint16(p) != tftpOACK || !bytes.Contains(p, []byte("tsize\x00"+strconv.Itoa(len(data))+"\x00")) {
		t.Fatalf("answer to a size query = %q, want an OACK with tsize %d", p, len(data))
	}
	sendTFTPError(c, from, tftpErrOption, "size only")
	l.wait(fmt.Sprintf("size asked (%d bytes)", len(data)), 1, 10*time.Second)
}

// TestTFTPFlood: transfers beyond the bound are refused as busy while the
// slots are held by clients that never acknowledge, a flood of garbage
// costs no goroutines, and once the silent clients time out a real
// transfer goes through.
func TestTFTPFlood(t *testing.T) {
	b, data := testBundle(t)
	l := newLog(t)
	s := &TFTPServer{Bundle: b, Log: l.logf, MaxTransfers: 2, Retries: 1, Timeout: 300 * time.Millisecond}
	addr := startTFTP(t, s)
	base := runtime.NumGoroutine()
	for range 2 { // hold both slots: receive block 1, never acknowledge it
		p, _, _ := ask(t, addr, rrq(BootBIOS))
		if binary.BigEndian.Uint16(p) != tftpDATA {
			t.Fatalf("first packet %q, want DATA", p[:4])
		}
	}
	p, _, _ := ask(t, addr, rrq(BootBIOS))
	if binary.BigEndian.Uint16(p) != tftpERROR || !bytes.Contains(p, []byte("busy")) {
		t.Fatalf("third transfer while two are held: %q, want a busy error", p)
	}
	c, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 5000 {
		c.Write([]byte(strconv.Itoa(i)))
	}
	if n := runtime.NumGoroutine(); n > base+4 {
		t.Errorf("%d goroutines after a flood of 5000 bad requests, %d before", n, base)
	}
	l.wait("transfer stopped", 2, 10*time.Second)
	got := fetch(t, addr, BootBIOS, 1428)
	if !bytes.Equal(got, data) {
		t.Errorf("after the flood, got %d bytes, want %d", len(got), len(data))
	}
	if strings.Count(l.String(), "refused") > 20 {
		t.Errorf("the flood wrote %d refusal lines to the log; want them rate-limited", strings.Count(l.String(), "refused"))
	}
}

// fetch is a minimal TFTP client: RRQ with blksize, ACK every block.
func fetch(t *testing.T, srv *net.UDPAddr, name string, blk int) []byte {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDP(rrq(name, "blksize", strconv.Itoa(blk)), srv); err != nil {
		t.Fatal(err)
	}
	var out []byte
	buf := make([]byte, blk+4)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, peer, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("fetching %s: %v", name, err)
		}
		ack := binary.BigEndian.AppendUint16(nil, tftpACK)
		switch binary.BigEndian.Uint16(buf) {
		case tftpOACK:
			ack = binary.BigEndian.AppendUint16(ack, 0)
		case tftpDATA:
			out = append(out, buf[4:n]...)
			ack = append(ack, buf[2:4]...)
		default:
			t.Fatalf("fetching %s: packet %q", name, buf[:n])
		}
		if _, err := c.WriteToUDP(ack, peer); err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint16(buf) == tftpDATA && n-4 < blk {
			return out
		}
	}
}

// FuzzParseReadRequest: whatever arrives on port 69, the decoder does not
// panic; a request it accepts has a file name and octet mode, option
// values in range, and encodes back into a request that decodes the same.
func FuzzParseReadRequest(f *testing.F) {
	testutil.Seed(f, rrq(BootBIOS))
	testutil.Seed(f, rrq("/grub/x86_64-efi/grub.cfg", "tsize", "0", "blksize", "1432"))
	testutil.Seed(f, rrq("undionly.kpxe", "blksize", "65464", "timeout", "3", "windowsize", "4"))
	testutil.Seed(f, rrq("../../etc/passwd"))
	testutil.Seed(f, append(binary.BigEndian.AppendUint16(nil, tftpWRQ), "x\x00octet\x00"...))
	testutil.Seed(f, []byte{0, 1, 'a', 0, 'o', 'c', 't', 'e', 't'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReadRequest(b)
		if err != nil {
			if !errors.Is(err, ErrTFTPRequest) {
				t.Fatalf("error %v does not wrap ErrTFTPRequest", err)
			}
			return
		}
		if r.Filename == "" || r.Mode != "octet" || r.BlockSize != 0 && (r.BlockSize < 8 || r.BlockSize > 1468) ||
			r.Timeout < 0 || r.Timeout > 255*time.Second {
			t.Fatalf("ParseReadRequest(%q) = %+v: out of range", b, r)
		}
		var opts []string
		if r.BlockSize > 0 {
			opts = append(opts, "blksize", strconv.Itoa(r.BlockSize))
		}
		if r.TSize {
			opts = append(opts, "tsize", "0")
		}
		if r.Timeout > 0 {
			opts = append(opts, "timeout", strconv.Itoa(int(r.Timeout/time.Second)))
		}
		again, err := ParseReadRequest(rrq(r.Filename, opts...))
		if err != nil || again != r {
			t.Fatalf("re-encoded %+v decodes as %+v, %v", r, again, err)
		}
	})
}
