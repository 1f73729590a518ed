// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rewind-backup/rewind/pkg/config"
)

func TestParseMAC(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"52:54:00:12:34:56", "52:54:00:12:34:56"},
		{"52-54-00-AB-CD-EF", "52:54:00:ab:cd:ef"},
		{" 5254.00ab.cdef ", "52:54:00:ab:cd:ef"},
		{"52:54:00:12:34", ""},
		{"../../etc/passwd", ""},
		{"", ""},
	} {
		got, err := ParseMAC(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrTask) {
				t.Errorf("ParseMAC(%q) = %q, %v; want ErrTask", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseMAC(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestTasksReload: a reader sees a change made by another writer (the CLI)
// without being told, and concurrent writers lose no update.
func TestTasksReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.json")
	server := OpenTasks(path)
	if _, ok, err := server.Get("52:54:00:12:34:56"); ok || err != nil {
		t.Fatalf("Get on a missing file = %v, %v; want no task, no error", ok, err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli := OpenTasks(path)
			mac := []string{"52:54:00:00:00:", "52:54:00:00:01:"}[i%2] + string("0123456789"[i/2]) + "0"
			err := cli.Update(func(f *TasksFile) error {
				f.Put(Task{MAC: mac, Machine: "pc", Task: config.TaskCapture, Once: true})
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f, err := server.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tasks) != 20 {
		t.Errorf("after 20 concurrent adds the server sees %d tasks", len(f.Tasks))
	}

	// A report clears a one-shot task and keeps the result.
	mac := f.Tasks[0].MAC
	if err := OpenTasks(path).Update(func(f *TasksFile) error {
		line := json.RawMessage(`{"ok":true,"task":"capture"}`)
		r := f.Record(Result{MAC: mac, OK: true, Report: line})
		if !r.Cleared || r.Machine != "pc" {
			t.Errorf("Record = %+v, want cleared, machine pc", r)
		}
		// The same report again, as a retry after a lost answer sends it:
		// the first one's result stands.
		spaced := json.RawMessage("{\n  \"ok\": true,\n  \"task\": \"capture\"\n}")
		if again := f.Record(Result{MAC: mac, OK: true, Report: spaced}); !again.Cleared || again.Machine != "pc" {
			t.Errorf("Record of the same report again = %+v, want the first result (cleared, machine pc)", again)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := server.Get(mac); ok {
		t.Errorf("the server still sees the one-shot task of %s after it was reported done", mac)
	}
	f, _ = server.Load()
	if r, ok := f.LastResult(mac); !ok || !r.OK {
		t.Errorf("LastResult(%s) = %+v, %v; want the ok result", mac, r, ok)
	}

	// A broken file is an error that names it, and no task.
	if err := os.WriteFile(path, []byte(`{"version":1,"tasks":[{"mac":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := server.Get(mac); ok || !errors.Is(err, ErrTask) {
		t.Errorf("Get on a broken file = %v, %v; want ErrTask", ok, err)
	}
}

func TestTaskCheck(t *testing.T) {
	ok := Task{MAC: "52:54:00:12:34:56", Machine: "pc", Task: config.TaskCapture}
	if err := ok.Check(); err != nil {
		t.Errorf("Check(%+v) = %v", ok, err)
	}
	if r := (Task{MAC: ok.MAC, Machine: "pc", Task: config.TaskRestore, Files: "9C8D7E6F"}); r.Check() != nil {
		t.Errorf("Check(%+v) = %v", r, r.Check())
	}
	for _, bad := range []Task{
		{MAC: "x", Machine: "pc", Task: config.TaskCapture},
		{MAC: ok.MAC, Task: config.TaskCapture},
		{MAC: ok.MAC, Machine: "front desk", Task: config.TaskCapture},
		{MAC: ok.MAC, Machine: "pc", Task: config.TaskShell},
		{MAC: ok.MAC, Machine: "pc", Task: config.TaskCapture, After: "sleep"},
		{MAC: ok.MAC, Machine: "pc", Task: config.TaskRestore, Image: "a\"b"},
		{MAC: ok.MAC, Machine: "pc", Task: config.TaskRestore, Files: "newest"},
	} {
		if err := bad.Check(); !errors.Is(err, ErrTask) {
			t.Errorf("Check(%+v) = %v, want ErrTask", bad, err)
		}
	}
}
