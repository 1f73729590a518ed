// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/internal/ntfstest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// TestRunTaskFiles: the unattended restore replays the user files its
// files setting names after the image, for real on an ext4 disk image:
// none asked for, none there, a snapshot named that is not there (refused
// before the disk is written), the newest replayed (its counts in the
// result and the report), and a replay refused (Windows user files, no
// Windows volume), which fails the task saying the image is restored and
// the files are not.
func TestRunTaskFiles(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "debugfs")
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		testutil.Missing(t, "no loop devices here")
	}
	ctx := context.Background()
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	if err := os.Mkdir(repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	initRepo(t, repoDir)
	spec := job.Repo{URL: repoDir}
	source := testutil.SampleDisk(t, 16<<20)
	tr := progress.NewTracker()
	if _, err := RunTask(ctx, Task{Kind: config.TaskCapture, Repo: spec, Machine: "pc1", Target: source}, tr); err != nil {
		t.Fatal(err)
	}
	restore := func(filesRef string) (restoreSummary, string, error) {
		t.Helper()
		target := filepath.Join(t.TempDir(), "target.img")
		testutil.SparseFile(t, target, 16<<20)
		got, err := RunTask(ctx, Task{Kind: config.TaskRestore, Repo: spec, Machine: "pc1", Image: "latest", Files: filesRef, Target: target}, tr)
		rs, _ := got.(restoreSummary)
		return rs, target, err
	}
	newestReport := func() (ok bool, result string) {
		t.Helper()
		reports, _ := filepath.Glob(filepath.Join(repoDir, "reports", "pc1", "*-restore-*.json"))
		var newest []byte
		var when time.Time
		for _, p := range reports {
			raw, _ := os.ReadFile(p)
			var rep struct {
				Time time.Time `json:"time"`
			}
			json.Unmarshal(raw, &rep)
			if rep.Time.After(when) {
				newest, when = raw, rep.Time
			}
		}
		var rep struct {
			OK     bool            `json:"ok"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(newest, &rep); err != nil {
			t.Fatalf("newest restore report %s: %v", newest, err)
		}
		var compact bytes.Buffer
		json.Compact(&compact, rep.Result)
		return rep.OK, compact.String()
	}

	for _, tc := range []struct{ files, why string }{
		{"latest", "no user files to replay: machine pc1 has no file snapshot"},
		{"none", "no user files to replay: files=none"},
	} {
		rs, target, err := restore(tc.files)
		if err != nil || !rs.Verified || rs.Files == nil || rs.Files.Replayed || rs.Files.Why != tc.why {
			t.Errorf("restore with files=%s = %+v, %v; want verified, files not replayed: %q", tc.files, rs, err, tc.why)
		}
		sameFile(t, source, target)
	}

	// A snapshot named that is not there: refused before the disk is
	// written, and reported.
	rs, target, err := restore("0000abcd")
	if err == nil || !strings.Contains(err.Error(), "files=0000abcd") || rs.Files != nil {
		t.Errorf("restore with files=0000abcd = %+v, %v; want a refusal naming it", rs, err)
	}
	if b, _ := os.ReadFile(target); bytes.Count(b, []byte{0}) != len(b) {
		t.Error("the target was written although the files snapshot named is not there")
	}
	if ok, _ := newestReport(); ok {
		t.Error("the refused restore's report says ok")
	}

	// User files backed up after the image: replayed.
	home := filepath.Join(dir, "home")
	want := map[string]string{"jane/orders.ods": "orders of the week", "jane/notes/today.txt": "call the customer"}
	for p, c := range want {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(home, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := job.Open(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	fres, err := files.Backup(ctx, r, files.Options{Machine: "pc1", Paths: []string{home}})
	job.CloseRepo(r)
	if err != nil {
		t.Fatal(err)
	}
	rs, target, err = restore("latest")
	if err != nil {
		t.Fatal(err)
	}
	f := rs.Files
	if f == nil || !f.Replayed || f.Snapshot != fres.Snapshot.ID().String() || f.Partition != 1 || f.ReplaySummary == nil || f.Added < int64(len(want)) || f.Fetched == 0 {
		t.Errorf("restore's files = %+v, want snapshot %s replayed onto partition 1, %d added or more, bytes fetched", f, repo.ShortID(fres.Snapshot.ID()), len(want))
	}
	part := filepath.Join(t.TempDir(), "part.img")
	testutil.Command(t, "", "dd", "if="+target, "of="+part, "bs=1M", "skip=1", "status=none")
	for p, c := range want {
		if got := testutil.Command(t, "", "debugfs", "-R", "cat "+filepath.Join(home, p), part); !strings.Contains(got, c) {
			t.Errorf("%s on the restored disk = %q, want %q", p, got, c)
		}
	}
	ok, result := newestReport()
	for _, s := range []string{`"replayed":true`, `"snapshot":"` + fres.Snapshot.ID().String(), `"added":`, `"fetched":`, `"verified":true`} {
		if !ok || !strings.Contains(result, s) {
			t.Errorf("report ok=%v result %s, want %s in it", ok, result, s)
		}
	}

	// Windows user files, newer still, and no Windows volume on the disk:
	// the task fails, and says the image is restored and the files not.
	r, err = job.Open(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	win := ntfstest.WindowsSnapshot(t, r, "pc1", home, `C:\Users\jane`, nil)
	job.CloseRepo(r)
	rs, target, err = restore("latest")
	if !errors.Is(err, job.ErrNoReplayTarget) || !strings.Contains(err.Error(), "was restored and verified, but the user files "+repo.ShortID(win.ID())+" were NOT replayed") {
		t.Errorf("restore with Windows user files onto ext4 = %v, want a failure saying the image is restored and the files not", err)
	}
	if f := rs.Files; !rs.Verified || f == nil || f.Replayed || !strings.Contains(f.Why, `no restored NTFS partition holds \Windows and \Users`) {
		t.Errorf("summary of the restore whose replay was refused = %+v (files %+v), want verified, files not replayed, why", rs, f)
	}
	sameFile(t, source, target)
	if ok, result := newestReport(); ok || !strings.Contains(result, `"replayed":false`) || !strings.Contains(result, `"verified":true`) {
		t.Errorf("report of the refused replay: ok=%v result %s; want not ok, the image verified, the files not replayed", ok, result)
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if !bytes.Equal(x, y) {
		t.Errorf("%s differs from %s", b, a)
	}
}
