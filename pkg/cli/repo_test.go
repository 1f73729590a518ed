// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

// run runs the command line with buffers and returns stdout, stderr and the
// exit code main would use.
func run(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), args, OS{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
	})
	if err != nil {
		// As main prints it.
		fmt.Fprintf(&stderr, "rewind: %v\n", err)
	}
	return stdout.String(), stderr.String(), ExitCode(err)
}

// addImage stores a small image snapshot of machine through the repository
// API (capture has its own tests) and returns its chunks' ids.
func addImage(t *testing.T, dir, machine string, seed byte) []chunk.ID {
	t.Helper()
	ctx := context.Background()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	cs := r.Config().ChunkSize
	var c lz4.Compressor
	area := repo.Area{Offset: 1 << 20, Length: 3 * int64(cs), Used: []repo.Extent{{Off: 0, Len: 3 * int64(cs)}}, UsedBytes: 3 * int64(cs)}
	var ids []chunk.ID
	idx, err := r.LoadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saver := r.NewSaver(idx)
	for i := range 3 {
		p := bytes.Repeat([]byte{seed, byte(i), 7}, cs/3+1)[:cs]
		id := chunk.Hash(p)
		if err := saver.Save(ctx, pack.Data, id, chunk.Encode(&c, nil, p)); err != nil {
			t.Fatal(err)
		}
		area.Chunks = append(area.Chunks, repo.ChunkRef{I: int64(i), ID: id})
		ids = append(ids, id)
	}
	if err := saver.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	img := &repo.Image{ChunkSize: cs, Disks: []repo.Disk{{Name: "sda", Size: 8 << 20, SectorSize: 512, Table: "gpt",
		Partitions: []repo.Partition{{Index: 1, Type: "x", Mode: "used-blocks", Area: area}}}}}
	if err := r.Locate(img, idx); err != nil {
		t.Fatal(err)
	}
	_, err = r.SaveSnapshot(ctx, &repo.Snapshot{Kind: repo.KindImage, Machine: machine, Time: time.Now(), Note: "test", Image: img})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestLocalRepositoryCycle(t *testing.T) {
	dir := t.TempDir()
	// Format 1: addImage stores chunk files, and the damage below is to one.
	out, errs, code := run(t, nil, "init", "--repo", dir, "--format", "1", "--chunk-size", "65536")
	if code != 0 || !strings.Contains(out, "created repository") {
		t.Fatalf("init = %d, %q %q", code, out, errs)
	}
	if _, errs, code := run(t, nil, "init", "--repo", dir); code != 1 || !strings.Contains(errs, "already holds a repository") {
		t.Errorf("init twice = %d, %q; want exit 1 and a refusal", code, errs)
	}
	ids := addImage(t, dir, "ws1", 1)
	addImage(t, dir, "ws2", 2)
	out, _, code = run(t, nil, "snapshots", "--repo", dir)
	if code != 0 || !strings.Contains(out, "ws1") || !strings.Contains(out, "ws2") || !strings.Contains(out, "test") {
		t.Errorf("snapshots = %d, %q; want ws1 and ws2 listed", code, out)
	}
	out, _, code = run(t, nil, "snapshots", "--repo", dir, "--machine", "ws2", "--json")
	var snaps snapshotsResult
	if err := json.Unmarshal([]byte(out), &snaps); err != nil || code != 0 || !snaps.OK || strings.Contains(out, "ws1") || len(snaps.Snapshots) != 1 || snaps.Snapshots[0].Machine != "ws2" {
		t.Errorf("snapshots --machine ws2 --json = %d, %q", code, out)
	}
	if out, _, code := run(t, nil, "check", "--repo", dir, "--read-data"); code != 0 || !strings.Contains(out, "no problems found") {
		t.Errorf("check --read-data = %d, %q", code, out)
	}

	// Damage a chunk: check --read-data names it and exits 3.
	p := filepath.Join(dir, "chunks", ids[1].String()[:2], ids[1].String())
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 1
	os.WriteFile(p, b, 0o644)
	out, _, code = run(t, nil, "check", "--repo", dir, "--read-data")
	if code != 3 || !strings.Contains(out, "error: chunk "+ids[1].String()) {
		t.Errorf("check --read-data with a damaged chunk = %d, %q; want exit 3 naming chunk %s", code, out, ids[1])
	}

	// Forget ws1's image and prune: its chunks go, ws2's stay.
	out, _, code = run(t, nil, "forget", "--repo", dir, "--machine", "ws1", "--keep-last", "0", "--keep-daily", "0")
	if code != 2 {
		t.Errorf("forget with a policy keeping nothing = %d, %q; want usage error 2", code, out)
	}
	out, _, code = run(t, nil, "forget", "--repo", dir, "--id", strings.Fields(lineWith(t, dir, "ws1"))[0])
	if code != 0 || !strings.Contains(out, "forgot 1 snapshots") {
		t.Errorf("forget --id = %d, %q", code, out)
	}
	out, _, code = run(t, nil, "prune", "--repo", dir)
	if code != 0 || !strings.Contains(out, "removed 3 unused chunks") {
		t.Errorf("prune = %d, %q; want 3 chunks removed", code, out)
	}
	if out, _, code := run(t, nil, "check", "--repo", dir, "--read-data"); code != 0 {
		t.Errorf("check after prune = %d, %q", code, out)
	}
}

func lineWith(t *testing.T, dir, s string) string {
	out, _, _ := run(t, nil, "snapshots", "--repo", dir)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	t.Fatalf("no snapshot line with %q in %q", s, out)
	return ""
}

func TestSMBRepository(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	url := srv.URL() + "/shop/rewind"
	env := map[string]string{passwordEnv: srv.PasswordFile}
	out, errs, code := run(t, env, "init", "--repo", url)
	if code != 0 {
		t.Fatalf("init over SMB = %d, %q %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(srv.ShareDir, "shop", "rewind", "config")); err != nil {
		t.Fatalf("no config on the share after init: %v", err)
	}
	addImage(t, filepath.Join(srv.ShareDir, "shop", "rewind"), "ws1", 3)
	out, errs, code = run(t, nil, "check", "--repo", url, "--password-file", srv.PasswordFile, "--read-data")
	if code != 0 || !strings.Contains(out, "1 snapshots, 3 chunks") {
		t.Errorf("check over SMB = %d, %q %q", code, out, errs)
	}
	if strings.Contains(out+errs, srv.Password()) {
		t.Errorf("output mentions the password")
	}
}

// TestBadRepositories: each mistake gives one line, a non-zero exit, and
// writes nothing.
func TestBadRepositories(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte("not-the-password\n"), 0o600)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	base := fmt.Sprintf("smb://%s@127.0.0.1:%d", srv.User, srv.Port)
	for _, tc := range []struct {
		name string
		args []string
		want string
		code int
	}{
		{"wrong password", []string{"init", "--repo", base + "/rewind", "--password-file", wrong}, "wrong user name or password", 1},
		{"unreachable host", []string{"init", "--repo", fmt.Sprintf("smb://%s@%s/rewind", srv.User, closed), "--password-file", srv.PasswordFile}, "cannot reach the NAS", 1},
		{"missing share", []string{"init", "--repo", base + "/nosuch", "--password-file", srv.PasswordFile}, `no share named "nosuch"`, 1},
		{"not smb", []string{"init", "--repo", "ftp://nas/rewind"}, `scheme "ftp" is not smb`, 1},
		{"password in URL", []string{"init", "--repo", fmt.Sprintf("smb://%s:hunter2@127.0.0.1:%d/rewind", srv.User, srv.Port)}, "holds a password", 1},
		{"no password", []string{"init", "--repo", base + "/rewind"}, "no password for", 1},
		{"missing password file", []string{"init", "--repo", base + "/rewind", "--password-file", "/nonexistent"}, "reading the password file", 1},
		{"not a repository", []string{"check", "--repo", base + "/rewind", "--password-file", srv.PasswordFile}, "not a rewind repository", 1},
		{"no repo flag", []string{"check"}, "no repository given", 2},
		{"bad flag", []string{"check", "--frobnicate"}, "check: unknown flag: --frobnicate; run 'rewind check --help'", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("%v exit = %d, want %d (stderr %q)", tc.args, code, tc.code, errs)
			}
			last := lastLine(errs)
			if !strings.Contains(last, tc.want) {
				t.Errorf("%v error = %q, want %q in it", tc.args, last, tc.want)
			}
			if strings.Contains(out+errs, "hunter2") || strings.Contains(out+errs, srv.Password()) {
				t.Errorf("%v output mentions a password", tc.args)
			}
		})
	}
	if entries, _ := os.ReadDir(srv.ShareDir); len(entries) != 0 {
		t.Errorf("the share holds %d entries after failed commands, want none", len(entries))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
