// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

// TestLikeHead: the file snapshot whose blob lists stand in for what a
// restored disk holds is the machine's nearest before or at the image,
// never one after it, another machine's, an image, or an unreadable one.
func TestLikeHead(t *testing.T) {
	img := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	h := func(id byte, kind, machine string, d time.Duration) repo.Head {
		return repo.Head{ID: repo.ID{id}, Kind: kind, Machine: machine, Time: img.Add(d)}
	}
	heads := []repo.Head{
		{ID: repo.ID{9}}, // unreadable: whose and when unknown
		h(1, repo.KindFiles, "ws1", -48*time.Hour),
		h(2, repo.KindFiles, "ws1", -time.Hour),
		h(3, repo.KindFiles, "ws2", -time.Minute), // another machine's
		h(4, repo.KindImage, "ws1", -time.Second), // an image
		h(5, repo.KindFiles, "ws1", time.Hour),    // after the image
		h(6, repo.KindFiles, "ws1", 24*time.Hour),
	}
	for _, tc := range []struct {
		at   time.Duration
		want byte // 0: none
	}{
		{0, 2},
		{-time.Hour, 2}, // at the image's time counts
		{-time.Hour - time.Second, 1},
		{-49 * time.Hour, 0},
		{2 * time.Hour, 5},
	} {
		got := LikeHead(heads, "ws1", img.Add(tc.at))
		switch {
		case tc.want == 0 && got != nil:
			t.Errorf("LikeHead(image %v) = %x, want none", tc.at, got.ID[0])
		case tc.want != 0 && (got == nil || got.ID[0] != tc.want):
			t.Errorf("LikeHead(image %v) = %v, want snapshot %d", tc.at, got, tc.want)
		}
	}
	if got := LikeHead(heads, "pc9", img); got != nil {
		t.Errorf("LikeHead(a machine with no files) = %v, want none", got)
	}
}

// TestFilesToReplay: what the files setting of an unattended restore
// picks, or refuses, around an image taken at noon: latest is the newest
// file snapshot if it is newer than the image, none is none, an id is that
// snapshot of that machine or a refusal.
func TestFilesToReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := localRepo(t, dir)
	noon := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	img := &repo.Snapshot{Kind: repo.KindImage, Machine: "ws1", Time: noon}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	backup := func(machine string, at time.Duration) *repo.Snapshot {
		t.Helper()
		if err := os.WriteFile(filepath.Join(home, "f"), []byte(at.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := files.Backup(ctx, r, files.Options{Machine: machine, Paths: []string{home}, Now: func() time.Time { return noon.Add(at) }})
		if err != nil {
			t.Fatal(err)
		}
		return res.Snapshot
	}
	before := backup("ws1", -time.Hour)
	otherAfter := backup("ws2", 3*time.Hour)

	// Only a snapshot older than the image: nothing to replay.
	got, why, err := FilesToReplay(ctx, r, "ws1", img, "latest")
	if err != nil || got != nil || !strings.Contains(why, "no user files to replay") || !strings.Contains(why, "not newer than image") {
		t.Errorf("FilesToReplay(latest, only older) = %v, %q, %v; want none, saying it is older", got, why, err)
	}
	after := backup("ws1", time.Hour)
	newest := backup("ws1", 2*time.Hour)

	short := func(s *repo.Snapshot) string { return repo.ShortID(s.ID()) }
	for _, tc := range []struct {
		machine, ref string
		want         *repo.Snapshot
		why, err     string // what the note or the error says
	}{
		{"ws1", "latest", newest, "", ""},
		{"ws1", "", newest, "", ""},
		{"ws1", "none", nil, "no user files to replay: files=none", ""},
		{"pc9", "latest", nil, "no user files to replay: machine pc9 has no file snapshot", ""},
		{"ws1", short(after), after, "", ""},
		{"ws1", short(before), nil, "", "is older than image"},
		{"ws1", short(otherAfter), nil, "", "no files"}, // another machine's
		{"ws1", "0000abcd", nil, "", "no files"},        // there is none
	} {
		got, why, err := FilesToReplay(ctx, r, tc.machine, img, tc.ref)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || got != nil {
				t.Errorf("FilesToReplay(%s, %q) = %v, %v; want a refusal saying %q", tc.machine, tc.ref, got, err, tc.err)
			}
			continue
		}
		if err != nil || why != tc.why || (got == nil) != (tc.want == nil) || got != nil && got.ID() != tc.want.ID() {
			t.Errorf("FilesToReplay(%s, %q) = %v, %q, %v; want %v, %q", tc.machine, tc.ref, got, why, err, tc.want, tc.why)
		}
	}
}

// localRepo makes a repository in dir/repo, closed when the test ends.
func localRepo(t *testing.T, dir string) *repo.Repository {
	t.Helper()
	p := filepath.Join(dir, "repo")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := local.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(context.Background(), s, repo.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { CloseRepo(r) })
	return r
}
