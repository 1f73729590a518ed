// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/u-root/u-root/pkg/cpio"
)

const (
	taskMAC  = "52:54:00:12:34:56"
	otherMAC = "52:54:00:ab:cd:ef"
	base     = "http://192.168.77.2:8080"
	password = "correct horse battery staple"
)

func testHTTP(t *testing.T) (http.Handler, *Tasks, *logLines) {
	b, _ := testBundle(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tasks := OpenTasks(filepath.Join(dir, "tasks.json"))
	if err := tasks.Update(func(f *TasksFile) error {
		f.Put(Task{MAC: taskMAC, Machine: "office-pc", Task: config.TaskCapture, Once: true, After: config.AfterPoweroff})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	l := newLog(t)
	h := NewHTTPHandler(HTTPConfig{
		Bundle: b, Tasks: tasks, Base: base, Repo: "smb://rewind@192.168.77.2/rewind", PasswordFile: pw,
		KernelArgs: "console=ttyS0,115200", MenuTimeout: 3 * time.Second, Log: l.logf, Neighbor: testNeighbors,
	})
	return h, tasks, l
}

// testNeighbors is the ARP table of the tests' LAN.
func testNeighbors(ip string) string {
	return map[string]string{"192.168.77.50": taskMAC, "192.168.77.51": otherMAC, "192.168.77.66": "52:54:00:66:66:66"}[ip]
}

func get(h http.Handler, from, target string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = from + ":40000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHTTPTaskScript(t *testing.T) {
	h, _, _ := testHTTP(t)
	w := get(h, "192.168.77.50", "/boot/52-54-00-12-34-56")
	script := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(script, "#!ipxe\n") {
		t.Fatalf("GET /boot/MAC = %d %q", w.Code, script)
	}
	for _, want := range []string{
		"kernel " + base + "/files/vmlinuz initrd=initramfs.cpio.zst initrd=settings.cpio console=ttyS0,115200 rewind.task=capture",
		" rewind.machine=office-pc", " rewind.repo=smb://rewind@192.168.77.2/rewind", " rewind.target=only",
		" rewind.after=poweroff", " rewind.report=" + base + "/done/52-54-00-12-34-56",
		"initrd " + base + "/files/initramfs.cpio.zst\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the task script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, password) || strings.Contains(strings.ToLower(script), "password") {
		t.Errorf("the task script mentions the password:\n%s", script)
	}
	m := regexp.MustCompile(`initrd --name settings.cpio ` + regexp.QuoteMeta(base) + `(/settings/[0-9a-f]{32})\n`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("the task script loads no settings archive:\n%s", script)
	}

	// Another address cannot have the settings; the script's own can,
	// once.
	if w := get(h, "192.168.77.66", m[1]); w.Code != 404 {
		t.Errorf("settings to another address: %d, want 404", w.Code)
	}
	w = get(h, "192.168.77.50", m[1])
	if w.Code != 200 {
		t.Fatalf("settings to the script's address: %d %q", w.Code, w.Body)
	}
	files := map[string]cpio.Record{}
	rr := cpio.Newc.Reader(bytes.NewReader(w.Body.Bytes()))
	if err := cpio.ForEachRecord(rr, func(r cpio.Record) error {
		files[r.Name] = r
		return nil
	}); err != nil {
		t.Fatalf("the settings archive does not read as newc cpio: %v", err)
	}
	content := func(name string) string {
		r, ok := files[name]
		if !ok {
			t.Fatalf("the settings archive has no %s (has %v)", name, files)
		}
		b, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		return string(b)
	}
	if got := content("etc/rewind/password"); got != password+"\n" {
		t.Errorf("password file in the archive = %q", got)
	}
	if mode := files["etc/rewind/password"].Mode & 0o777; mode != 0o600 {
		t.Errorf("password file mode %o, want 600", mode)
	}
	var s = config.Default()
	if err := s.ApplyConf([]byte(content("etc/rewind/rewind.conf")), "rewind.conf", "/etc/rewind"); err != nil || s.PasswordFile != "/etc/rewind/password" {
		t.Errorf("the archive's rewind.conf gives password_file %q, %v", s.PasswordFile, err)
	}
	if w := get(h, "192.168.77.50", m[1]); w.Code != 404 {
		t.Errorf("settings fetched a second time: %d, want 404", w.Code)
	}
}

// TestHTTPOtherMAC: a machine asking for another machine's script gets the
// menu, without the task, the repository or a settings URL, and the log
// names both MACs.
func TestHTTPOtherMAC(t *testing.T) {
	h, _, l := testHTTP(t)
	w := get(h, "192.168.77.66", "/boot/52-54-00-12-34-56")
	script := w.Body.String()
	if w.Code != 200 || !strings.Contains(script, "sanboot") || strings.Contains(script, "settings") ||
		strings.Contains(script, "rewind.task=capture") || strings.Contains(script, "rewind.repo") {
		t.Errorf("script for another machine's MAC = %d\n%s", w.Code, script)
	}
	l.wait("asks for the boot script of 52:54:00:12:34:56 but its MAC is 52:54:00:66:66:66", 1, time.Second)
}

func TestARPLookup(t *testing.T) {
	table := []byte("IP address       HW type     Flags       HW address            Mask     Device\n" +
		"192.168.77.111   0x1         0x2         52:54:00:12:34:56     *        br0\n" +
		"192.168.77.112   0x1         0x0         00:00:00:00:00:00     *        br0\n")
	for ip, want := range map[string]string{"192.168.77.111": taskMAC, "192.168.77.112": "", "192.168.77.1": "", "": ""} {
		if got := arpLookup(table, ip); got != want {
			t.Errorf("arpLookup(%q) = %q, want %q", ip, got, want)
		}
	}
}

func TestHTTPMenu(t *testing.T) {
	h, _, _ := testHTTP(t)
	w := get(h, "192.168.77.51", "/boot/52-54-00-ab-cd-ef")
	script := w.Body.String()
	for _, want := range []string{
		"choose --default local --timeout 3000 choice || goto local\n",
		"sanboot --no-describe --drive 0x80 ||\n",
		"exit\n",
		"rewind.task=wizard rewind.repo=smb://rewind@192.168.77.2/rewind\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the menu lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "settings") {
		t.Errorf("a machine without a task is given settings:\n%s", script)
	}
	if w := get(h, "192.168.77.51", "/boot/..%2f..%2fetc%2fpasswd"); w.Code != 404 {
		t.Errorf("script for a bad MAC: %d, want 404", w.Code)
	}
}

// TestHTTPFiles: the kernel comes whole and by ranges; names that leave
// the bundle, however spelled, do not.
func TestHTTPFiles(t *testing.T) {
	h, _, l := testHTTP(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/files/vmlinuz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "kernel" {
		t.Errorf("GET /files/vmlinuz = %d %q", resp.StatusCode, b)
	}
	for _, p := range []string{
		"/files/../../etc/passwd", "/files/%2e%2e/%2e%2e/etc/passwd", "/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"/files//etc/passwd", "/files/escape", "/files/escape-rel", "/files/grub", "/files/grub/..%2f..%2fescape",
		"/files/..%5c..%5cetc%5cpasswd",
	} {
		// A raw request, as curl --path-as-is or an attacker sends it.
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.URL.Opaque = p
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || bytes.Contains(b, []byte("root:")) || bytes.Contains(b, []byte("not for the network")) {
			t.Errorf("GET %s = %d %q", p, resp.StatusCode, b)
		}
	}
	if !strings.Contains(l.String(), "leads out of the bundle") {
		t.Errorf("the symbolic link out of the bundle was not logged as refused:\n%s", l)
	}
}

func TestHTTPDone(t *testing.T) {
	h, tasks, _ := testHTTP(t)
	post := func(mac, body string) int {
		r := httptest.NewRequest("POST", "/done/"+mac, strings.NewReader(body))
		r.RemoteAddr = "192.168.77.50:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	other := httptest.NewRequest("POST", "/done/52-54-00-12-34-56", strings.NewReader(`{"ok":true}`))
	other.RemoteAddr = "192.168.77.66:40000"
	ow := httptest.NewRecorder()
	h.ServeHTTP(ow, other)
	if ow.Code != 403 {
		t.Errorf("POST /done from another machine: %d, want 403", ow.Code)
	}
	if c := post("52-54-00-12-34-56", "hello"); c != 400 {
		t.Errorf("POST /done with no JSON: %d, want 400", c)
	}
	if c := post("52-54-00-12-34-56", `{"ok":true,"x":"`+strings.Repeat("a", 70<<10)+`"}`); c != 413 {
		t.Errorf("POST /done with 70 KiB: %d, want 413", c)
	}
	if _, ok, _ := tasks.Get(taskMAC); !ok {
		t.Fatal("a refused report cleared the task")
	}
	if c := post("52-54-00-12-34-56", `{"task":"capture","ok":false}`); c != 200 {
		t.Errorf("POST /done ok=false: %d", c)
	}
	if _, ok, _ := tasks.Get(taskMAC); !ok {
		t.Fatal("a failed task was cleared")
	}
	if c := post("52-54-00-12-34-56", `{"task":"capture","ok":true,"machine":"office-pc"}`); c != 200 {
		t.Errorf("POST /done ok=true: %d", c)
	}
	if _, ok, _ := tasks.Get(taskMAC); ok {
		t.Error("a one-shot task reported done is still there")
	}
	f, _ := tasks.Load()
	if r, ok := f.LastResult(taskMAC); !ok || !r.OK || !r.Cleared || r.Machine != "office-pc" || r.From != "192.168.77.50" {
		t.Errorf("last result = %+v", r)
	}
}

// TestGRUBConfig: the TFTP side writes a machine's GRUB configuration (its
// task, with the settings archive on the initrd line, or the menu) and
// gives the settings archive once, to that address, by TFTP.
func TestGRUBConfig(t *testing.T) {
	b, _ := testBundle(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tasks := OpenTasks(filepath.Join(dir, "tasks.json"))
	if err := tasks.Update(func(f *TasksFile) error {
		f.Put(Task{MAC: taskMAC, Machine: "office-pc", Task: config.TaskRestore, Image: "latest", Files: "none", Target: "nvme0n1"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	l := newLog(t)
	site := NewSite(HTTPConfig{Bundle: b, Tasks: tasks, Base: base, Repo: "smb://rewind@192.168.77.2/rewind", PasswordFile: pw,
		KernelArgs: "console=ttyS0,115200", MenuTimeout: 5 * time.Second, Log: l.logf, Neighbor: testNeighbors})
	from := net.IPv4(192, 168, 77, 50)
	cfg, ok, err := site.TFTPFile("/grub/rewind/52:54:00:12:34:56.cfg", from)
	if !ok || err != nil {
		t.Fatalf("TFTPFile(task config) = %v, %v", ok, err)
	}
	m := regexp.MustCompile(`(?m)^initrd /initramfs.cpio.zst (/settings/[0-9a-f]{32})$`).FindStringSubmatch(string(cfg))
	if m == nil || !strings.Contains(string(cfg), "linux /vmlinuz console=ttyS0,115200 rewind.task=restore rewind.machine=office-pc rewind.repo=smb://rewind@192.168.77.2/rewind rewind.image=latest rewind.files=none rewind.target=nvme0n1 rewind.report="+base+"/done/52-54-00-12-34-56\n") {
		t.Fatalf("GRUB configuration of a machine with a task:\n%s", cfg)
	}
	if strings.Contains(string(cfg), password) {
		t.Errorf("the GRUB configuration holds the password:\n%s", cfg)
	}
	if _, ok, err := site.TFTPFile(m[1], net.IPv4(192, 168, 77, 66)); !ok || err == nil {
		t.Errorf("settings by TFTP to another address: %v, %v; want refused", ok, err)
	}
	arch, ok, err := site.TFTPFile(m[1], from)
	if !ok || err != nil || !bytes.Contains(arch, []byte(password)) {
		t.Errorf("settings by TFTP = %v, %v, %d bytes; want the archive", ok, err, len(arch))
	}
	if _, _, err := site.TFTPFile(m[1], from); err == nil {
		t.Error("settings by TFTP a second time: given")
	}

	menu, ok, err := site.TFTPFile("grub/rewind/52:54:00:ab:cd:ef.cfg", net.IPv4(192, 168, 77, 51))
	for _, want := range []string{"set timeout=5\nset default=local\n", "--id local {\n\texit\n}", "\tlinux /vmlinuz console=ttyS0,115200 rewind.task=wizard rewind.repo=smb://rewind@192.168.77.2/rewind\n"} {
		if !ok || err != nil || !strings.Contains(string(menu), want) {
			t.Errorf("GRUB menu lacks %q:\n%s", want, menu)
		}
	}
	if strings.Contains(string(menu), "settings") {
		t.Errorf("the menu gives settings:\n%s", menu)
	}
	if _, ok, err := site.TFTPFile("grub/rewind/../../etc/passwd.cfg", from); !ok || err == nil {
		t.Errorf("GRUB configuration for a bad name: %v, %v; want refused", ok, err)
	}
	if _, ok, _ := site.TFTPFile("undionly.kpxe", from); ok {
		t.Error("TFTPFile claims a bundle file")
	}
}
