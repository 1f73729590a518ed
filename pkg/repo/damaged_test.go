// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

// TestLatestDamaged: "latest" is the newest snapshot of the machine,
// readable or not. When it cannot be used, FindSnapshot refuses, naming it
// and saying what to do, and never hands back the older image.
func TestLatestDamaged(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		// otherBlocked: the damage hides whose snapshot it is, so the
		// latest of another machine cannot be told either.
		otherBlocked bool
	}{
		{"truncated to 500 bytes", func(b []byte) []byte { return b[:500] }, false},
		{"one byte flipped at the end", func(b []byte) []byte { b[len(b)-10] ^= 1; return b }, false},
		{"zero-filled", func(b []byte) []byte { return make([]byte, len(b)) }, true},
		{"empty", func(b []byte) []byte { return nil }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, dir := newRepo(t)
			old := storeImage(t, r, "ws1", pieces(1, 2))
			other := storeImage(t, r, "ws2", pieces(2, 1))
			newest := storeImage(t, r, "ws1", pieces(3, 2))
			path := filepath.Join(dir, "snapshots", newest.ID().String())
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}

			for _, ref := range []string{"latest", newest.ID().String()[:8]} {
				s, err := r.FindSnapshot(ctx, "ws1", KindImage, ref)
				if err == nil {
					t.Fatalf("FindSnapshot(ws1, %s) = %s, want a refusal naming the damaged %s", ref, ShortID(s.ID()), ShortID(newest.ID()))
				}
				if !errors.Is(err, ErrSnapshotDamaged) {
					t.Errorf("FindSnapshot(ws1, %s) = %v, want an error that wraps ErrSnapshotDamaged", ref, err)
				}
				for _, want := range []string{ShortID(newest.ID()), "--image", "rewind check"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("FindSnapshot(ws1, %s) = %q, want it to say %q", ref, err, want)
					}
				}
			}
			// The older image stays reachable by its id.
			if s, err := r.FindSnapshot(ctx, "ws1", KindImage, old.ID().String()[:8]); err != nil || s.ID() != old.ID() {
				t.Errorf("FindSnapshot(ws1, older id) = %v, want the older image", err)
			}
			s, err := r.FindSnapshot(ctx, "ws2", KindImage, "latest")
			switch {
			case tc.otherBlocked && !errors.Is(err, ErrSnapshotDamaged):
				t.Errorf("FindSnapshot(ws2, latest) = %v, want a refusal: the damaged snapshot may be ws2's", err)
			case !tc.otherBlocked && (err != nil || s.ID() != other.ID()):
				t.Errorf("FindSnapshot(ws2, latest) = %v, want ws2's image: the damaged snapshot says it is ws1's", err)
			}
		})
	}
}

// TestZeroFlagMismatch: a chunk flagged all-zero whose id is not that of
// zero bytes would restore zeros in place of data; such a snapshot is
// invalid, and check names the snapshot and where the chunk lies.
// (Format 1: in format 2's chunk lists a zero chunk has no id of its own,
// so there is nothing to disagree.)
func TestZeroFlagMismatch(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepoV(t, 1)
	s := storeImage(t, r, "ws1", pieces(4, 3))
	s.Image.Disks[0].Partitions[0].Chunks[1].Zero = true
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	id := ID(sha256.Sum256(data))
	if err := os.WriteFile(filepath.Join(dir, "snapshots", id.String()), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSnapshot(data, id, MaxChunkSize); !errors.Is(err, ErrSnapshotDamaged) {
		t.Errorf("ParseSnapshot(zero flag on a data chunk) = %v, want ErrSnapshotDamaged", err)
	}
	if _, err := r.SaveSnapshot(ctx, s); err == nil {
		t.Errorf("SaveSnapshot(zero flag on a data chunk) succeeded, want a refusal")
	}
	res := mustCheck(t, r, true)
	offset := "disk offset " + strconv.FormatInt(s.Image.Disks[0].Partitions[0].Offset+testChunk, 10)
	if len(res.Problems) != 1 {
		t.Fatalf("Check problems = %q, want one naming snapshot %s", res.Problems, ShortID(id))
	}
	for _, want := range []string{ShortID(id), "disk 1 partition 1", offset, "all-zero"} {
		if !strings.Contains(res.Problems[0], want) {
			t.Errorf("Check problem = %q, want it to say %q", res.Problems[0], want)
		}
	}
}

// TestPruneDryRunStaleLocks: the dry run counts the stale locks the run
// then removes.
func TestPruneDryRunStaleLocks(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	storeImage(t, r, "ws1", pieces(5, 1))
	now := time.Now()
	for pid := 300; pid < 304; pid++ {
		dead := Locker{Host: "tech-laptop", PID: pid, Now: func() time.Time { return now }}
		if _, err := r.Lock(ctx, false, "capture", "ws1", 0, dead); err != nil {
			t.Fatal(err)
		}
	}
	me := Locker{Host: "tech-laptop", PID: 400, Alive: func(pid int) bool { return pid >= 400 }}
	dry, err := r.Prune(ctx, PruneOptions{DryRun: true, Locker: me})
	if err != nil {
		t.Fatal(err)
	}
	run, err := r.Prune(ctx, PruneOptions{Locker: me})
	if err != nil {
		t.Fatal(err)
	}
	if dry.StaleLocks != 4 || run.StaleLocks != 4 {
		t.Errorf("Prune stale locks: dry run %d, run %d; want 4 and 4", dry.StaleLocks, run.StaleLocks)
	}
}

// FuzzParseHead: any bytes give a head without panic; a head that claims to
// know whose snapshot it is names a valid machine, a kind and a time; and
// every prefix of a real snapshot that holds its leading fields gives them.
func FuzzParseHead(f *testing.F) {
	when := time.Date(2026, 11, 22, 2, 0, 5, 123e6, time.UTC)
	s := Snapshot{Version: 1, Kind: KindImage, Machine: "robot-ws1", Time: when, Host: "h", Note: "weekly",
		Image: &Image{ChunkSize: 1 << 20, Disks: []Disk{{Name: "sda", Size: 1 << 30, SectorSize: 512, Table: "gpt"}}}}
	full, err := json.Marshal(&s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add(full[:60])
	f.Add([]byte(`{"machine":"a","kind":"image","time":"2026-01-01T00:00:00Z","image":{}}`))
	f.Add([]byte(`{"machine":"../x","kind":"image","time":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Head
		parseHead(b, &h)
		if h.Known() && (validMachine(h.Machine) != nil || h.Kind == "" || h.Time.IsZero()) {
			t.Errorf("parseHead(%q) = %+v: known, but not a valid machine, kind and time", b, h)
		}
	})
}

// TestHeadOfPrefixes: a snapshot cut anywhere after its time still says
// whose it is and when it was taken.
func TestHeadOfPrefixes(t *testing.T) {
	when := time.Date(2026, 11, 22, 2, 0, 5, 123e6, time.UTC)
	s := Snapshot{Version: 1, Kind: KindImage, Machine: "robot-ws1", Time: when, Host: "h", Note: "weekly",
		Image: &Image{ChunkSize: 1 << 20, Disks: []Disk{{Name: "sda", Size: 1 << 30, SectorSize: 512, Table: "gpt"}}}}
	full, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	end := strings.Index(string(full), `,"host"`)
	for n := end; n <= len(full); n++ {
		var h Head
		parseHead(full[:n], &h)
		if h.Machine != s.Machine || h.Kind != s.Kind || !h.Time.Equal(when) {
			t.Errorf("parseHead(first %d bytes) = %s %s %v, want %s %s %v", n, h.Kind, h.Machine, h.Time, s.Kind, s.Machine, when)
		}
	}
}

// failReads is a store whose reads of one file fail, as a NAS's do on a
// file the user may not read.
type failReads struct {
	store.Store
	name string
}

var errNoAccess = errors.New("access denied (test)")

func (f failReads) ReadAt(ctx context.Context, name string, b []byte, off int64) (int, error) {
	if name == f.name {
		return 0, errNoAccess
	}
	return f.Store.ReadAt(ctx, name, b, off)
}

// TestLatestUnreadable: a snapshot the store cannot read is not called
// damaged (removing it would be the wrong advice), and "latest" still
// refuses rather than picking the older image.
func TestLatestUnreadable(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	storeImage(t, r, "ws1", pieces(1, 2))
	newest := storeImage(t, r, "ws1", pieces(3, 2))
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(ctx, failReads{s, "snapshots/" + newest.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r2.FindSnapshot(ctx, "ws1", KindImage, "latest")
	if err == nil {
		t.Fatalf("FindSnapshot(ws1, latest) with the newest unreadable = %s, want a refusal", ShortID(got.ID()))
	}
	if !errors.Is(err, errNoAccess) || errors.Is(err, ErrSnapshotDamaged) || strings.Contains(err.Error(), "forget") {
		t.Errorf("FindSnapshot(ws1, latest) = %v; want the store's error, not damage, and no advice to remove it", err)
	}
}
