// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

func TestScheduleNext(t *testing.T) {
	loc := time.FixedZone("shop", 3600)
	thu := time.Date(2026, 12, 3, 10, 0, 0, 0, loc) // a Thursday
	for _, tc := range []struct {
		weekly string
		want   time.Time
	}{
		{"Sun 02:00", time.Date(2026, 12, 6, 2, 0, 0, 0, loc)},
		{"thursday 10:00", time.Date(2026, 12, 10, 10, 0, 0, 0, loc)}, // now is not after now
		{"Thu 10:00:01", time.Date(2026, 12, 3, 10, 0, 1, 0, loc)},
		{"Wed 23:59", time.Date(2026, 12, 9, 23, 59, 0, 0, loc)},
	} {
		got, err := Schedule{Weekly: tc.weekly}.Next(thu)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("Next(%q) after %v = %v, %v; want %v", tc.weekly, thu, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "Sun", "Sun 2", "Sun 24:00", "Sun 02:60", "Xyz 02:00", "Su 02:00", "Sun 02:00:00:00", "Sun -1:00"} {
		if _, err := (Schedule{Weekly: bad}).Next(thu); !errors.Is(err, ErrTask) {
			t.Errorf("Next(%q) = %v, want ErrTask", bad, err)
		}
	}
}

// TestSchedulerFires: a schedule due in a second arms its one-shot task and
// sends Wake-on-LAN until the machine is seen; one missed by an hour while
// the server was down runs at start; one missed by more than the grace, or
// due before it was added, does not.
func TestSchedulerFires(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.json")
	tasks := OpenTasks(path)
	now := time.Now()
	at := func(t time.Time) string { return t.Format("Mon 15:04:05") }
	macs := []string{"52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03", "52:54:00:00:00:04"}
	if err := tasks.Update(func(f *TasksFile) error {
		f.PutSchedule(Schedule{MAC: macs[0], Machine: "soon", Task: config.TaskCapture, After: config.AfterPoweroff, Weekly: at(now.Add(time.Second)), Added: now})
		f.PutSchedule(Schedule{MAC: macs[1], Machine: "missed", Task: config.TaskCapture, Weekly: at(now.Add(-time.Hour)), Added: now.Add(-3 * time.Hour)})
		f.PutSchedule(Schedule{MAC: macs[2], Machine: "too-late", Task: config.TaskCapture, Weekly: at(now.Add(-13 * time.Hour)), Added: now.Add(-14 * time.Hour)})
		f.PutSchedule(Schedule{MAC: macs[3], Machine: "new", Task: config.TaskCapture, Weekly: at(now.Add(-time.Hour)), Added: now.Add(-time.Minute)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	woken := make(chan string, 100)
	l := newLog(t)
	s := &Scheduler{Tasks: tasks, Log: l.logf, WakeEvery: 50 * time.Millisecond, WakeFor: time.Minute,
		Wake: func(mac net.HardwareAddr) error { woken <- mac.String(); return nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	count := map[string]int{}
	deadline := time.After(20 * time.Second)
	for count[macs[0]] < 3 || count[macs[1]] < 3 {
		select {
		case m := <-woken:
			count[m]++
		case <-deadline:
			t.Fatalf("wake-ups within 20 s: %v", count)
		}
	}
	s.Seen(macs[0])
	s.Seen(macs[1])
	l.wait("is booting from the network", 2, 10*time.Second)
	l.wait("missed by 1h0m0s while the server was down", 1, 10*time.Second)
	f, err := tasks.Load()
	if err != nil {
		t.Fatal(err)
	}
	for i, mac := range macs {
		task, ok := findTask(f, mac)
		if want := i < 2; ok != want {
			t.Errorf("%s: task armed = %v, want %v (%+v)", mac, ok, want, task)
		}
		if ok && (!task.Once || task.Task != config.TaskCapture) {
			t.Errorf("%s: armed task %+v, want a one-shot capture", mac, task)
		}
		if count[mac] > 0 && i >= 2 {
			t.Errorf("%s was woken %d times; its schedule was not due", mac, count[mac])
		}
	}
	if f.Schedules[0].LastRun.IsZero() || f.Schedules[2].LastRun.IsZero() == false {
		t.Errorf("last runs = %v, %v; want the first set, the third not", f.Schedules[0].LastRun, f.Schedules[2].LastRun)
	}
}

func TestMagicPacket(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	p := MagicPacket(mac)
	if len(p) != 102 || !bytes.Equal(p[:6], bytes.Repeat([]byte{0xff}, 6)) || !bytes.Equal(p[6:], bytes.Repeat(mac, 16)) {
		t.Errorf("MagicPacket = %x", p)
	}
	_, n, _ := net.ParseCIDR("192.168.77.2/24")
	if b := BroadcastAddr(&net.IPNet{IP: net.IPv4(192, 168, 77, 2), Mask: n.Mask}); b.String() != "192.168.77.255" {
		t.Errorf("BroadcastAddr = %v", b)
	}
	if b := BroadcastAddr(&net.IPNet{IP: net.IPv4(192, 168, 77, 2)}); !b.Equal(net.IPv4bcast) {
		t.Errorf("BroadcastAddr without a mask = %v, want 255.255.255.255", b)
	}
}

// TestWOLListenHelper is not a test: TestScheduleWakeOnLAN runs the test
// binary with it inside the router's namespace, where it prints the first
// Wake-on-LAN packet that reaches UDP port 9.
func TestWOLListenHelper(t *testing.T) {
	if os.Getenv("REWIND_WOL_LISTEN") != "1" {
		t.Skip("helper for TestScheduleWakeOnLAN")
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 9})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("listening")
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	b := make([]byte, 200)
	n, from, err := c.ReadFromUDP(b)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("wol from %s %s\n", from.IP, hex.EncodeToString(b[:n]))
}

// TestScheduleWakeOnLAN: rewind pxe serve in the server's namespace fires a
// schedule due a few seconds ahead; the magic packet for the MAC crosses the
// bridge and the veth to the router's namespace, and the task is armed.
func TestScheduleWakeOnLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("network namespaces; -short")
	}
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "ip")
	rewind := filepath.Join(t.TempDir(), "rewind")
	if out, err := exec.Command("go", "build", "-o", rewind, "../../cmds/rewind").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bundle := t.TempDir()
	for _, f := range []string{Kernel, Initramfs} {
		os.WriteFile(filepath.Join(bundle, f), []byte(f), 0o644)
	}
	lan := newTestLAN(t, "w")
	log := newLog(t)
	lan.start(t, lan.router, log, "listener: ", "env", "REWIND_WOL_LISTEN=1", os.Args[0], "-test.run=^TestWOLListenHelper$", "-test.v")
	log.wait("listener: listening", 1, 30*time.Second)

	tasks := filepath.Join(t.TempDir(), "tasks.json")
	const mac = "52:54:00:12:34:59"
	due := time.Now().Add(3 * time.Second).Truncate(time.Second)
	if out, err := exec.Command(rewind, "pxe", "schedule", "add", "--tasks", tasks, "--mac", mac, "--machine", "night",
		"--weekly", due.Format("Mon 15:04:05"), "capture").CombinedOutput(); err != nil {
		t.Fatalf("schedule add: %v\n%s", err, out)
	}
	lan.start(t, lan.server, log, "serve: ", rewind, "pxe", "serve", "--bundle", bundle, "--interface", "br0",
		"--http", lanServer+":8080", "--tasks", tasks)
	log.wait("listener: wol from "+lanServer+" "+hex.EncodeToString(MagicPacket(net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x59})), 1, 30*time.Second)
	if late := time.Since(due); late < 0 || late > 10*time.Second {
		t.Errorf("the packet came %v after the scheduled time", late)
	}
	// The server says so before it sends the packet, but its output and
	// the listener's come through different pipes: wait for the line.
	log.wait("armed one-shot capture for machine night", 1, 30*time.Second)
	f, err := OpenTasks(tasks).Load()
	if err != nil {
		t.Fatal(err)
	}
	if task, ok := findTask(f, mac); !ok || !task.Once || task.After != config.AfterPoweroff {
		t.Errorf("armed task = %+v, %v; want a one-shot capture, then poweroff", task, ok)
	}
	t.Logf("log:\n%s", log)
}
