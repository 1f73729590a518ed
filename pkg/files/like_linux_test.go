// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// copyFlat copies the files of folder src into dst with their times.
func copyFlat(t *testing.T, src, dst string) {
	t.Helper()
	es, err := os.ReadDir(src)
	must(t, err)
	for _, e := range es {
		p := filepath.Join(src, e.Name())
		data, err := os.ReadFile(p)
		must(t, err)
		fi, err := os.Stat(p)
		must(t, err)
		writeFile(t, filepath.Join(dst, e.Name()), data, fi.Mode().Perm())
		must(t, os.Chtimes(filepath.Join(dst, e.Name()), fi.ModTime(), fi.ModTime()))
	}
}

// garble gives file p other bytes of the same size and keeps its times:
// the Like snapshot's size and time then say it holds what it does not.
func garble(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	must(t, err)
	must(t, os.WriteFile(p, randBytes(99, int(fi.Size())), fi.Mode().Perm()))
	must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
}

// editMiddle overwrites 1000 bytes in the middle of file p.
func editMiddle(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	must(t, err)
	fi, err := f.Stat()
	must(t, err)
	_, err = f.WriteAt(randBytes(7, 1000), fi.Size()/2)
	must(t, err)
	must(t, f.Close())
}

// sharedBytes returns the bytes of file p's blobs in snapshot b that its
// blobs in snapshot a have too: what a replay of b onto a's file reuses.
func sharedBytes(t *testing.T, r *repo.Repository, a, b *repo.Snapshot, p string) int64 {
	t.Helper()
	ctx := context.Background()
	na, err := Lookup(ctx, r, a.Files.Root(), p)
	must(t, err)
	nb, err := Lookup(ctx, r, b.Files.Root(), p)
	must(t, err)
	in := map[chunk.ID]bool{}
	for _, x := range na.Content {
		in[x.ID] = true
	}
	var n int64
	for _, x := range nb.Content {
		if in[x.ID] {
			n += int64(x.Size)
		}
	}
	return n
}

// TestReplayLike replays onto a target as the parent snapshot left it,
// where the parent's blob lists stand in for reading the target's files,
// and onto files whose size and time are the parent's but whose bytes are
// not: each comes out as the snapshot has it, reusing what the target
// really holds and fetching the rest. The same with an older snapshot
// named as Like.
func TestReplayLike(t *testing.T) {
	r, _ := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "edited"), randBytes(1, 6<<20), 0o644)
	writeFile(t, filepath.Join(src, "lied"), randBytes(2, 6<<20), 0o644)
	writeFile(t, filepath.Join(src, "touched"), randBytes(3, 100<<10), 0o644)
	writeFile(t, filepath.Join(src, "rewritten"), randBytes(4, 2<<20), 0o644)
	writeFile(t, filepath.Join(src, "small"), []byte("small and edited"), 0o644)
	writeFile(t, filepath.Join(src, "kept"), randBytes(5, 700<<10), 0o644)
	writeFile(t, filepath.Join(src, "retimed"), randBytes(8, 1<<20), 0o644)
	old := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	for _, name := range []string{"edited", "lied", "touched", "rewritten", "small", "kept", "retimed"} {
		must(t, os.Chtimes(filepath.Join(src, name), old, old))
	}
	a := backupDir(t, r, src).Snapshot
	before := t.TempDir()
	copyFlat(t, src, before)

	editMiddle(t, filepath.Join(src, "edited"))
	editMiddle(t, filepath.Join(src, "lied"))
	now := time.Now()
	must(t, os.Chtimes(filepath.Join(src, "touched"), now, now))
	must(t, os.Chtimes(filepath.Join(src, "retimed"), now, now)) // the target holds its content
	must(t, os.WriteFile(filepath.Join(src, "rewritten"), randBytes(6, 2<<20), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "small"), []byte("SMALL AND EDITED"), 0o644))
	b := backupDir(t, r, src).Snapshot
	if b.Files.Parent != a.ID().String() {
		t.Fatalf("the second snapshot's parent is %q, want the first, %s", b.Files.Parent, a.ID())
	}
	// A third with nothing changed: its parent is the second, and the
	// target holds the first.
	c := backupDir(t, r, src).Snapshot

	wantReused := sharedBytes(t, r, a, b, src+"/edited")
	if wantReused < 4<<20 {
		t.Fatalf("the edited file shares %d bytes of blobs with its old version, want most of its 6 MiB: the test needs it", wantReused)
	}
	for _, tc := range []struct {
		name string
		s    *repo.Snapshot
		like *repo.Snapshot
	}{
		{"parent", b, nil},
		{"like", c, a},
		{"no like", c, nil}, // the parent, the second, matches no file that changed
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			copyFlat(t, before, dst)
			garble(t, filepath.Join(dst, "lied"))
			garble(t, filepath.Join(dst, "touched"))
			sum := replayInto(t, r, tc.s, src, dst, ReplayOptions{Like: tc.like})
			if diff := cmp.Diff(state(t, src), state(t, dst)); diff != "" {
				t.Fatalf("replay differs (-want +got):\n%s", diff)
			}
			if sum.Reused != wantReused {
				t.Errorf("replay reused %d bytes, want %d: the edited file's blobs that its old version holds", sum.Reused, wantReused)
			}
			if want := int64(6<<20 + 6<<20 + 100<<10 + 2<<20 + 16); sum.Written != want {
				t.Errorf("replay wrote %d bytes, want %d: the five files that differ", sum.Written, want)
			}
			if sum.Changed != 5 || sum.Unchanged != 2 {
				t.Errorf("replay: %d changed, %d unchanged; want 5 files changed, the kept and the retimed files unchanged", sum.Changed, sum.Unchanged)
			}
			// Again onto the result: nothing to do.
			again := replayInto(t, r, tc.s, src, dst, ReplayOptions{Like: tc.like})
			if again.Fetched != 0 || again.Changed != 0 {
				t.Errorf("second replay fetched %d bytes and changed %d entries, want nothing", again.Fetched, again.Changed)
			}
		})
	}
}
