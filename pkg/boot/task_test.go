// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

// TestRunTask runs the unattended capture and restore for real through
// pkg/job, on a local repository and disk image files: the restored disk is
// identical, each task leaves a report, and the summaries carry the image.
func TestRunTask(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	if err := os.Mkdir(repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := job.Open(ctx, job.Repo{URL: repoDir}, nil)
	if err == nil {
		job.CloseRepo(r)
		t.Fatal("an empty folder opened as a repository")
	}
	initRepo(t, repoDir)

	source := testutil.SampleDisk(t, 16<<20)
	target := filepath.Join(dir, "target.img")
	if err := os.WriteFile(target, make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := progress.NewTracker()
	got, err := RunTask(ctx, Task{Kind: config.TaskCapture, Repo: job.Repo{URL: repoDir}, Machine: "pc1", Target: source}, tr)
	if err != nil {
		t.Fatal(err)
	}
	capt, ok := got.(captureSummary)
	if !ok || len(capt.Image) != 64 {
		t.Fatalf("capture summary = %+v, want the image's id", got)
	}
	got, err = RunTask(ctx, Task{Kind: config.TaskRestore, Repo: job.Repo{URL: repoDir}, Machine: "pc1", Image: "latest", Target: target}, tr)
	if err != nil {
		t.Fatal(err)
	}
	if rs, ok := got.(restoreSummary); !ok || rs.Image != capt.Image || !rs.Verified {
		t.Errorf("restore summary = %+v, want image %s, verified", got, capt.Image)
	}
	a, _ := os.ReadFile(source)
	b, _ := os.ReadFile(target)
	if !bytes.Equal(a, b) {
		t.Error("the restored disk differs from the captured one")
	}
	reports, _ := filepath.Glob(filepath.Join(repoDir, "reports", "pc1", "*.json"))
	if len(reports) != 2 {
		t.Fatalf("reports %v, want one for the capture and one for the restore", reports)
	}
	for _, p := range reports {
		raw, _ := os.ReadFile(p)
		var rep struct {
			OK     bool            `json:"ok"`
			Image  string          `json:"image"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(raw, &rep); err != nil || !rep.OK || rep.Image != capt.Image || !strings.Contains(string(rep.Result), capt.Image) {
			t.Errorf("report %s = %s (%v), want ok, naming the image", filepath.Base(p), raw, err)
		}
	}

	// A target too small is refused before anything is written, and the
	// failure is reported too.
	small := filepath.Join(dir, "small.img")
	if err := os.WriteFile(small, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := RunTask(ctx, Task{Kind: config.TaskRestore, Repo: job.Repo{URL: repoDir}, Machine: "pc1", Image: "latest", Target: small}, tr); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("restore onto a 4 MiB disk = %v, want too small", err)
	}
	if b, _ := os.ReadFile(small); bytes.Count(b, []byte{0}) != len(b) {
		t.Error("the too-small disk was written")
	}
	if reports, _ := filepath.Glob(filepath.Join(repoDir, "reports", "pc1", "*.json")); len(reports) != 3 {
		t.Errorf("%d reports after a refused restore, want 3", len(reports))
	}
}

func initRepo(t *testing.T, dir string) {
	t.Helper()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(context.Background(), s, repo.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job.CloseRepo(r)
}
