// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/progress"
)

// TestUnattendedReports: after an unattended capture, its result line goes
// to rewind.report= (the PXE server's /done URL), and the console says so;
// a failed capture is reported too, with ok false; the password is in
// neither.
func TestUnattendedReports(t *testing.T) {
	for _, fail := range []bool{false, true} {
		var mu sync.Mutex
		var got []byte
		posts := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = b
			posts++
			mu.Unlock()
			if r.Method != http.MethodPost || r.URL.Path != "/done/52-54-00-12-34-56" {
				http.Error(w, "no", http.StatusNotFound)
			}
		}))
		conf := map[string]string{
			"/etc/rewind/rewind.conf": "password_file = /etc/rewind/password\n",
			"/etc/rewind/password":    "hunter2\n",
		}
		sys := fakeSystem{cmdline: "rewind.task=capture rewind.target=only rewind.machine=pc1 rewind.repo=smb://backup@nas/rewind rewind.report=" + srv.URL + "/done/52-54-00-12-34-56",
			files: conf, disks: []Disk{{Name: "nvme0n1", Path: "/dev/nvme0n1", Serial: "S4EV"}}}
		var console bytes.Buffer
		Run(context.Background(), &sys, Options{
			Console: &console,
			Task: func(ctx context.Context, t Task, rep progress.Reporter) (any, error) {
				if fail {
					return nil, errors.New("the NAS refused user backup: wrong user name or password")
				}
				return map[string]any{"image": "2026-12-03T1030", "bytes": 42}, nil
			},
			StayUp: func(context.Context) {},
		})
		srv.Close()
		if !strings.Contains(console.String(), "rewind: report: sent to "+srv.URL) {
			t.Fatalf("fail=%v: console does not say the report was sent:\n%s", fail, console.String())
		}
		mu.Lock()
		if posts != 1 {
			t.Errorf("fail=%v: the server got %d reports, want one", fail, posts)
		}
		var line map[string]any
		if err := json.Unmarshal(got, &line); err != nil || line["ok"] != !fail || line["task"] != "capture" {
			t.Errorf("fail=%v: the server got %q (%v), want the result line with ok %v", fail, got, err, !fail)
		}
		if fail && !strings.Contains(fmt.Sprint(line["error"]), "wrong user name or password") {
			t.Errorf("the failure report %q does not say why", got)
		}
		if bytes.Contains(got, []byte("hunter2")) {
			t.Errorf("the report carries the password: %s", got)
		}
		mu.Unlock()
	}
}

// TestPostReportRetries: a server that fails twice gets the line the
// third time; one that never answers well costs a bounded time.
func TestPostReportRetries(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n < 3 || strings.HasSuffix(r.URL.Path, "/never") {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := postReport(context.Background(), srv.URL+"/done/x", []byte(`{"ok":true}`), time.Millisecond); err != nil {
		t.Errorf("postReport after two failures: %v", err)
	}
	err := postReport(context.Background(), srv.URL+"/never", []byte(`{"ok":true}`), time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("postReport to a server that always fails = %v, want the 503", err)
	}
}
