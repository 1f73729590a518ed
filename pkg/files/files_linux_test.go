// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

func newRepo(t testing.TB) (*repo.Repository, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return initRepo(t, s), dir
}

func initRepo(t testing.TB, s store.Store) *repo.Repository {
	t.Helper()
	r, err := repo.Init(context.Background(), s, repo.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, p string, data []byte, mode os.FileMode) {
	t.Helper()
	must(t, os.WriteFile(p, data, mode))
	must(t, os.Chmod(p, mode))
}

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// buildTree makes a tree with everything a replay must carry.
func buildTree(t testing.TB, dir string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(dir, "docs/deep/deeper"), 0o755))
	must(t, os.Mkdir(filepath.Join(dir, "empty dir"), 0o700))
	must(t, os.Mkdir(filepath.Join(dir, "shared"), 0o2775))
	writeFile(t, filepath.Join(dir, "docs/plan.ods"), randBytes(1, 40<<10), 0o644)
	writeFile(t, filepath.Join(dir, "docs/deep/deeper/big.bin"), randBytes(2, 3<<20), 0o600)
	writeFile(t, filepath.Join(dir, "docs/empty"), nil, 0o644)
	writeFile(t, filepath.Join(dir, "ünïcødé ñame.txt"), []byte("unicode\n"), 0o644)
	writeFile(t, filepath.Join(dir, "with space"), []byte("space\n"), 0o755)
	writeFile(t, filepath.Join(dir, "new\nline"), []byte("newline\n"), 0o640)
	writeFile(t, filepath.Join(dir, strings.Repeat("n", 255)), []byte("long name\n"), 0o644)
	writeFile(t, filepath.Join(dir, "shared/owned"), []byte("someone else's\n"), 0o664)
	must(t, os.Lchown(filepath.Join(dir, "shared/owned"), 1234, 5678))
	must(t, os.Lchown(filepath.Join(dir, "shared"), 1234, 5678))
	must(t, os.Symlink("docs/plan.ods", filepath.Join(dir, "link to plan")))
	must(t, os.Symlink("/nowhere/at/all", filepath.Join(dir, "dangling")))
	must(t, os.Link(filepath.Join(dir, "docs/plan.ods"), filepath.Join(dir, "hard link to plan")))
	must(t, unix.Lsetxattr(filepath.Join(dir, "docs/plan.ods"), "user.origin", []byte("office"), 0))
	must(t, unix.Lsetxattr(filepath.Join(dir, "docs"), "user.tag", []byte{0, 1, 2}, 0))
	must(t, unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	old := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	must(t, os.Chtimes(filepath.Join(dir, "docs/plan.ods"), old, old))
}

// entryState is what a replay must make equal.
type entryState struct {
	Type   string
	Mode   fs.FileMode
	Sum    string
	MTime  int64
	UID    uint32
	GID    uint32
	Xattrs map[string]string
	Target string
	Links  string // the other paths of its hard-link group
}

// state walks dir: every entry below it, by relative path.
func state(t testing.TB, dir string) map[string]entryState {
	t.Helper()
	out := map[string]entryState{}
	byInode := map[uint64][]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := entryState{Type: fi.Mode().Type().String(), Mode: fi.Mode(), UID: st.Uid, GID: st.Gid}
		if fi.Mode().Type() != fs.ModeSymlink {
			e.MTime = fi.ModTime().UnixNano()
		}
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Sum = fmt.Sprintf("%x", sha256.Sum256(data))
			if st.Nlink > 1 {
				byInode[st.Ino] = append(byInode[st.Ino], rel)
			}
		case fi.Mode().Type() == fs.ModeSymlink:
			e.Target, _ = os.Readlink(p)
		}
		names, _ := listXattrNames(p)
		for _, n := range names {
			if !strings.HasPrefix(n, "user.") {
				continue
			}
			v, _ := getxattr(p, n)
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[n] = string(v)
		}
		out[rel] = e
		return nil
	})
	must(t, err)
	for _, group := range byInode {
		sort.Strings(group)
		for _, p := range group {
			e := out[p]
			e.Links = strings.Join(group, "|")
			out[p] = e
		}
	}
	return out
}

// backupDir backs up dir as machine ws1, with no excludes.
func backupDir(t testing.TB, r *repo.Repository, dir string) *Result {
	t.Helper()
	res, err := Backup(context.Background(), r, Options{Machine: "ws1", Paths: []string{dir}, Excludes: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// replayInto replays snapshot s's folder src onto folder into.
func replayInto(t testing.TB, r *repo.Repository, s *repo.Snapshot, src, into string, opt ReplayOptions) *ReplaySummary {
	t.Helper()
	opt.Into = into
	opt.Map = []string{src + "=/"}
	sum, err := Replay(context.Background(), r, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestLinuxRoundTrip backs up a tree, changes it, backs it up again, and
// replays the second snapshot onto a copy of the old tree: the result is
// the new tree exactly, deletions included; the second backup stored only
// what changed, and the replay fetched only that.
func TestLinuxRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test sets owners: run it as root (the CI does)")
	}
	ctx := context.Background()
	r, _ := newRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.Mkdir(src, 0o755))
	buildTree(t, src)
	first := backupDir(t, r, src)
	if first.Stats.Files != 9 || first.Stats.Others != 3 || len(first.Problems) != 0 {
		t.Errorf("first backup: %+v, problems %v; want 9 files, 3 others (2 symlinks, a FIFO) and no problems", first.Stats, first.Problems)
	}

	// The first snapshot replayed into an empty folder is the tree.
	old := filepath.Join(t.TempDir(), "old")
	must(t, os.Mkdir(old, 0o755))
	replayInto(t, r, first.Snapshot, src, old, ReplayOptions{})
	if diff := cmp.Diff(state(t, src), state(t, old)); diff != "" {
		t.Fatalf("replay of the first snapshot into an empty folder differs (-want +got):\n%s", diff)
	}

	// A week of changes.
	big := filepath.Join(src, "docs/deep/deeper/big.bin")
	f, err := os.OpenFile(big, os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteAt(randBytes(9, 4096), 3<<19)
	must(t, err)
	must(t, f.Close())
	fa, err := os.OpenFile(filepath.Join(src, "with space"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = fa.WriteString("appended\n")
	must(t, err)
	must(t, fa.Close())
	must(t, os.Remove(filepath.Join(src, "ünïcødé ñame.txt")))
	must(t, os.RemoveAll(filepath.Join(src, "empty dir")))
	writeFile(t, filepath.Join(src, "docs/new.txt"), []byte("new this week\n"), 0o644)
	must(t, os.Mkdir(filepath.Join(src, "new dir"), 0o750))
	writeFile(t, filepath.Join(src, "new dir/inside"), randBytes(3, 100<<10), 0o644)
	must(t, os.Chmod(filepath.Join(src, "docs/plan.ods"), 0o600))
	must(t, unix.Lsetxattr(filepath.Join(src, "docs"), "user.tag", []byte("changed"), 0))
	must(t, os.Remove(filepath.Join(src, "dangling")))
	must(t, os.Symlink("docs/new.txt", filepath.Join(src, "dangling")))

	second := backupDir(t, r, src)
	// Changed: big.bin, "with space", the new files, and plan.ods with its
	// hard link, whose mode (so its change time) changed.
	changed := int64(3<<20) + int64(len("space\nappended\n")) + int64(len("new this week\n")) + 100<<10 + 2*40<<10
	if second.Stats.ReadBytes != changed {
		t.Errorf("second backup read %d bytes, want %d (only the files that changed)", second.Stats.ReadBytes, changed)
	}
	// The edit inside big.bin stores the chunks around it, not the file.
	if second.Stats.NewBytes > 100<<10+200+3<<20*3/4 {
		t.Errorf("second backup stored %d bytes anew, want at most the new files and the chunks around the edit", second.Stats.NewBytes)
	}
	if second.Snapshot.Files.Parent != first.Snapshot.ID().String() {
		t.Errorf("second snapshot's parent = %q, want the first", second.Snapshot.Files.Parent)
	}

	sum := replayInto(t, r, second.Snapshot, src, old, ReplayOptions{})
	if diff := cmp.Diff(state(t, src), state(t, old)); diff != "" {
		t.Fatalf("replay of the second snapshot onto the old tree differs (-want +got):\n%s", diff)
	}
	if sum.Deleted != 2 || sum.Fetched > second.Stats.NewBytes+64<<10 || sum.Reused == 0 {
		t.Errorf("replay: %d deleted, %d fetched, %d reused; want 2 deleted (a file and a folder), no more fetched than the second backup stored (%d), big.bin's unchanged chunks reused",
			sum.Deleted, sum.Fetched, sum.Reused, second.Stats.NewBytes)
	}

	// Again: nothing to do.
	sum = replayInto(t, r, second.Snapshot, src, old, ReplayOptions{})
	if sum.Written != 0 || sum.Fetched != 0 || sum.Added+sum.Changed+sum.Deleted != 0 {
		t.Errorf("replay onto the new tree: %+v, want nothing written, fetched, added, changed or deleted", sum)
	}

	// check reads every blob; prune of the first snapshot keeps what the
	// second needs.
	if _, err := r.Forget(ctx, "ws1", repo.Policy{Last: 1}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prune(ctx, repo.PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Check(ctx, repo.CheckOptions{ReadData: true})
	if err != nil || len(res.Problems) != 0 {
		t.Fatalf("check after forget and prune = %+v, %v", res, err)
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	must(t, os.Mkdir(fresh, 0o755))
	replayInto(t, r, second.Snapshot, src, fresh, ReplayOptions{})
	if diff := cmp.Diff(state(t, src), state(t, fresh)); diff != "" {
		t.Fatalf("replay after prune differs (-want +got):\n%s", diff)
	}
}

// TestReplayKeepsWhatItShould: --keep-deleted keeps, excluded paths are
// never deleted, a leftover temporary file is removed, --dry-run changes
// nothing, restore never clobbers.
func TestReplayKeepsWhatItShould(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(filepath.Join(src, "a"), 0o755))
	writeFile(t, filepath.Join(src, "a/keep.txt"), []byte("keep"), 0o644)
	res, err := Backup(ctx, r, Options{Machine: "ws1", Paths: []string{src}, Excludes: []string{"*.tmp", ".cache"}})
	must(t, err)
	dst := t.TempDir()
	replayInto(t, r, res.Snapshot, src, dst, ReplayOptions{})
	for _, p := range []string{"a/extra", "a/x.tmp", ".cache", "a/" + tempPrefix + "123"} {
		writeFile(t, filepath.Join(dst, p), []byte("target only"), 0o644)
	}
	before := state(t, dst)
	sum := replayInto(t, r, res.Snapshot, src, dst, ReplayOptions{DryRun: true})
	if diff := cmp.Diff(before, state(t, dst)); diff != "" || sum.Deleted != 1 {
		t.Errorf("dry run changed the target (diff %s) or counted %d deletions, want none and 1", diff, sum.Deleted)
	}
	replayInto(t, r, res.Snapshot, src, dst, ReplayOptions{KeepDeleted: true})
	if _, err := os.Stat(filepath.Join(dst, "a/extra")); err != nil {
		t.Errorf("--keep-deleted removed a/extra: %v", err)
	}
	replayInto(t, r, res.Snapshot, src, dst, ReplayOptions{})
	for p, want := range map[string]bool{"a/extra": false, "a/x.tmp": true, ".cache": true, "a/" + tempPrefix + "123": false, "a/keep.txt": true} {
		_, err := os.Stat(filepath.Join(dst, p))
		if (err == nil) != want {
			t.Errorf("after replay, %s exists = %v, want %v", p, err == nil, want)
		}
	}
	// A restore never clobbers.
	_, err = Replay(ctx, r, res.Snapshot, ReplayOptions{Into: dst, Map: []string{src + "=/"}, Paths: []string{src + "/a/keep.txt"}, NoClobber: true})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "keep.txt") {
		t.Errorf("restore over an existing file = %v, want ErrExists naming the file", err)
	}
	// Unknown paths are refused before anything is written.
	_, err = Replay(ctx, r, res.Snapshot, ReplayOptions{Into: dst, Paths: []string{src + "/nope"}})
	if err == nil || !strings.Contains(err.Error(), "is not in the snapshot") {
		t.Errorf("replay of a path the snapshot lacks = %v, want 'is not in the snapshot'", err)
	}
}

// TestBackupBadInput: a path that does not exist, a file that cannot be
// read, a file that changes while it is read.
func TestBackupBadInput(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	src := t.TempDir()
	_, err := Backup(ctx, r, Options{Machine: "ws1", Paths: []string{filepath.Join(src, "missing")}})
	if err == nil || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), "nothing was backed up") {
		t.Errorf("Backup(missing path) = %v, want an error naming it", err)
	}
	if _, err := Backup(ctx, r, Options{Machine: "ws1", Paths: []string{"relative/path"}}); err == nil || !strings.Contains(err.Error(), "not absolute") {
		t.Errorf("Backup(relative path) = %v, want a refusal", err)
	}
	if n := countFiles(t, dir); n != 0 {
		t.Errorf("refused backups left %d files in the repository", n)
	}

	// A file that changes while it is read, all the time: read twice,
	// then kept as read and named.
	writeFile(t, filepath.Join(src, "ok"), []byte("fine"), 0o644)
	writeFile(t, filepath.Join(src, "growing"), randBytes(4, 2<<20), 0o644)
	readHook = func(p string) {
		if filepath.Base(p) == "growing" {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			must(t, err)
			f.Write([]byte("more"))
			f.Close()
		}
	}
	defer func() { readHook = nil }()
	res, err := Backup(ctx, r, Options{Machine: "ws1", Paths: []string{src}, Excludes: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Changed != 1 || len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Reason, "changed while it was read") {
		t.Errorf("backup of a file being written: changed %d, problems %v; want it named as changed while read", res.Stats.Changed, res.Problems)
	}
	if got := res.Snapshot.Files.Problems; len(got) != 1 || got[0].Path != src+"/growing" {
		t.Errorf("the snapshot's problems = %v, want the growing file", got)
	}
}

func countFiles(t testing.TB, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, "config") && !strings.HasSuffix(p, ".keep") {
			n++
		}
		return nil
	})
	return n
}

// TestUnreadableFolder: a folder that cannot be listed is a problem, not a
// failure; its replay leaves the target's folder alone; a backup of
// nothing but unreadable folders stores nothing and says so.
func TestUnreadableFolder(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := t.TempDir()
	locked := filepath.Join(src, "locked")
	must(t, os.Mkdir(locked, 0o755))
	writeFile(t, filepath.Join(src, "ok"), []byte("fine"), 0o644)
	// Root lists any folder: the test makes the open fail as it does for
	// a user without permission.
	openDirHook = func(p string) error {
		if p == locked {
			return &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
		}
		return nil
	}
	defer func() { openDirHook = nil }()
	res, err := Backup(ctx, r, Options{Machine: "ws1", Paths: []string{src}, Excludes: []string{}})
	must(t, err)
	if res.Stats.Unreadable != 1 || len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Reason, "permission denied") {
		t.Fatalf("backup with an unreadable folder: %+v %v, want 1 unreadable, named with its reason", res.Stats, res.Problems)
	}
	dst := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dst, "locked"), 0o755))
	writeFile(t, filepath.Join(dst, "locked/precious"), []byte("do not delete"), 0o644)
	sum := replayInto(t, r, res.Snapshot, src, dst, ReplayOptions{})
	if _, err := os.Stat(filepath.Join(dst, "locked/precious")); err != nil || sum.Unread != 1 {
		t.Errorf("replay deleted what an unreadable folder held (%v), or did not count it (%d)", err, sum.Unread)
	}
	_, err = Backup(ctx, r, Options{Machine: "ws2", Paths: []string{locked}, Excludes: []string{}})
	if !errors.Is(err, ErrNothingStored) {
		t.Errorf("backup of only an unreadable folder = %v, want ErrNothingStored", err)
	}
}

// TestUnreadableSecurity: an entry whose security descriptor cannot be
// read (on Windows, a user without READ_CONTROL) is backed up without it,
// content and all, and named among the problems; it is not unreadable.
func TestUnreadableSecurity(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "guarded"), []byte("content all the same"), 0o644)
	writeFile(t, filepath.Join(src, "ok"), []byte("fine"), 0o644)
	securityHook = func(p string) error {
		if filepath.Base(p) == "guarded" {
			return &fs.PathError{Op: "getsecurity", Path: p, Err: syscall.EACCES}
		}
		return nil
	}
	defer func() { securityHook = nil }()
	res, err := Backup(ctx, r, Options{Machine: "ws1", Paths: []string{src}, Excludes: []string{}})
	must(t, err)
	if res.Stats.Unreadable != 0 || res.Stats.Files != 2 || len(res.Problems) != 1 || res.Problems[0].Path != src+"/guarded" ||
		!strings.Contains(res.Problems[0].Reason, "security descriptor (owner and permissions) could not be read: permission denied") {
		t.Fatalf("backup with an unreadable descriptor: %+v %v; want 2 files, none unreadable, the one named with its reason", res.Stats, res.Problems)
	}
	if got := res.Snapshot.Files.Problems; len(got) != 1 || got[0] != res.Problems[0] {
		t.Errorf("the snapshot's problems = %v, want %v", got, res.Problems)
	}
	dst := t.TempDir()
	replayInto(t, r, res.Snapshot, src, dst, ReplayOptions{})
	if b, err := os.ReadFile(filepath.Join(dst, "guarded")); err != nil || string(b) != "content all the same" {
		t.Errorf("the replayed file = %q, %v; want its content", b, err)
	}
}

// TestCorruptTree: a damaged tree blob is a clear error naming the folder,
// and the replay writes nothing.
func TestCorruptTree(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	src := t.TempDir()
	must(t, os.Mkdir(filepath.Join(src, "sub"), 0o755))
	writeFile(t, filepath.Join(src, "sub/f"), []byte("data"), 0o644)
	res := backupDir(t, r, src)
	// Flip a byte inside the root tree's blob, in its pack.
	root := res.Snapshot.Files.Root()
	p := filepath.Join(dir, "packs", root.Pack.String()[:2], root.Pack.String())
	data, err := os.ReadFile(p)
	must(t, err)
	data[root.Off+root.Len-1] ^= 0xff
	must(t, os.WriteFile(p, data, 0o644))
	dst := t.TempDir()
	_, err = Replay(ctx, r, res.Snapshot, ReplayOptions{Into: dst, Map: []string{src + "=/"}})
	if !errors.Is(err, chunk.ErrCorrupt) {
		t.Errorf("replay of a snapshot with a damaged tree = %v, want a corruption error", err)
	}
	if n := countFiles(t, dst); n != 0 {
		t.Errorf("the failed replay wrote %d files", n)
	}
	chk, err := r.Check(ctx, repo.CheckOptions{ReadData: true})
	if err != nil || len(chk.Problems) == 0 {
		t.Errorf("check of a repository with a damaged tree = %+v, %v; want problems", chk, err)
	}
	if _, err := r.Prune(ctx, repo.PruneOptions{}); err == nil || !strings.Contains(err.Error(), "nothing was removed") {
		t.Errorf("prune with a damaged tree = %v, want a refusal", err)
	}
}

// TestSmallFilesShareObjects: 20,000 files of ~8 KiB become a few packs,
// not 20,000 objects: at most new bytes / 512 KiB + 200 new files in the
// repository.
func TestSmallFilesShareObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 files: not in -short")
	}
	r, dir := newRepo(t)
	src := t.TempDir()
	for d := range 20 {
		sub := filepath.Join(src, fmt.Sprintf("d%02d", d))
		must(t, os.Mkdir(sub, 0o755))
		for k := range 1000 {
			writeFile(t, filepath.Join(sub, fmt.Sprintf("f%04d", k)), randBytes(uint64(d*1000+k), 4096+k*8), 0o644)
		}
	}
	before := countFiles(t, dir)
	res := backupDir(t, r, src)
	objects := countFiles(t, dir) - before
	limit := int(res.Stats.NewBytes/(512<<10)) + 200
	t.Logf("%d files, %d bytes new: %d new objects (limit %d)", res.Stats.Files, res.Stats.NewBytes, objects, limit)
	if res.Stats.Files != 20000 || objects > limit {
		t.Errorf("backup of 20,000 small files made %d objects, want at most %d", objects, limit)
	}
}

// TestReplayResumes: a replay cut off midway leaves every file it wrote
// whole, and the rerun finishes without fetching those again.
func TestReplayResumes(t *testing.T) {
	// With a parent, whose files are the snapshot's: its blob lists stand
	// for what the target holds, and must not hide the zeroed file.
	// (No "=" in the subtests' names: the temporary folders take them, and
	// --map cuts SRC=DST at the first "=".)
	t.Run("alone", func(t *testing.T) { testReplayResumes(t, false) })
	t.Run("with parent", func(t *testing.T) { testReplayResumes(t, true) })
}

func testReplayResumes(t *testing.T, parent bool) {
	r, _ := newRepo(t)
	src := t.TempDir()
	for k := range 40 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%02d", k)), randBytes(uint64(k+100), 256<<10), 0o644)
	}
	res := backupDir(t, r, src)
	if parent {
		res = backupDir(t, r, src)
		if res.Snapshot.Files.Parent == "" {
			t.Fatal("the second backup has no parent")
		}
	}
	dst := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	pr := &cancelAfterWrites{cancel: cancel, after: 10 * 256 << 10}
	_, err := Replay(ctx, r, res.Snapshot, ReplayOptions{Into: dst, Map: []string{src + "=/"}, Progress: pr, Workers: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cut-off replay = %v, want context.Canceled", err)
	}
	// Every file there is whole (a temporary name aside).
	names, _ := os.ReadDir(dst)
	whole := 0
	for _, e := range names {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dst, e.Name()))
		must(t, err)
		want, err := os.ReadFile(filepath.Join(src, e.Name()))
		must(t, err)
		if !bytes.Equal(data, want) {
			t.Fatalf("%s is there but not whole after the cut-off replay", e.Name())
		}
		whole++
	}
	if _, err := os.Stat(filepath.Join(dst, markerName)); err != nil {
		t.Fatalf("the cut-off replay left no marker: %v", err)
	}
	// A file renamed into place before a power cut may have its size and
	// time but not its bytes: make one so, keeping size and time. The
	// rerun, finding the marker, compares content and mends it.
	var victim string
	for _, e := range names {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			victim = filepath.Join(dst, e.Name())
			break
		}
	}
	fi, err := os.Stat(victim)
	must(t, err)
	must(t, os.WriteFile(victim, make([]byte, fi.Size()), 0o644))
	must(t, os.Chtimes(victim, fi.ModTime(), fi.ModTime()))

	sum := replayInto(t, r, res.Snapshot, src, dst, ReplayOptions{})
	if diff := cmp.Diff(state(t, src), state(t, dst)); diff != "" {
		t.Fatalf("rerun replay differs (-want +got):\n%s", diff)
	}
	if whole == 0 || sum.Unchanged != int64(whole-1) || sum.Changed != 1 || sum.Added != int64(40-whole) {
		t.Errorf("rerun: %d unchanged, %d changed, %d added; want the %d whole files but one unchanged, the zeroed one changed, the rest added",
			sum.Unchanged, sum.Changed, sum.Added, whole)
	}
	if _, err := os.Stat(filepath.Join(dst, markerName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the finished replay left its marker: %v", err)
	}
}

type cancelAfterWrites struct {
	cancel  func()
	after   int64
	written atomic.Int64
}

func (c *cancelAfterWrites) Phase(string, int64)         {}
func (c *cancelAfterWrites) Note(progress.Level, string) {}
func (c *cancelAfterWrites) At(int, int)                 {}
func (c *cancelAfterWrites) Add(k progress.Counter, n int64) {
	if k == progress.Written && c.written.Add(n) >= c.after {
		c.cancel()
	}
}

// TestReplayAfterRepack: prune rewrites packs whose trees name subtrees in
// "their own pack" at offsets that no longer hold them; a replay and a
// check find every tree through the index.
func TestReplayAfterRepack(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := t.TempDir()
	// Many folders, so that the trees fill a good part of their pack, and
	// one kept folder whose unchanged trees the second snapshot reuses.
	for d := range 200 {
		sub := filepath.Join(src, fmt.Sprintf("gone%03d/inner", d))
		must(t, os.MkdirAll(sub, 0o755))
		writeFile(t, filepath.Join(sub, "f"), randBytes(uint64(d), 2000), 0o644)
	}
	must(t, os.MkdirAll(filepath.Join(src, "kept/a/b/c"), 0o755))
	writeFile(t, filepath.Join(src, "kept/a/b/c/f"), []byte("kept"), 0o644)
	first := backupDir(t, r, src)
	for d := range 200 {
		must(t, os.RemoveAll(filepath.Join(src, fmt.Sprintf("gone%03d", d))))
	}
	second := backupDir(t, r, src)
	if _, err := r.Forget(ctx, "ws1", repo.Policy{Last: 1}, false); err != nil {
		t.Fatal(err)
	}
	res, err := r.Prune(ctx, repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Repacked == 0 {
		t.Fatalf("prune repacked no pack (%+v): the test needs one", res)
	}
	_ = first
	chk, err := r.Check(ctx, repo.CheckOptions{ReadData: true})
	if err != nil || len(chk.Problems) != 0 {
		t.Fatalf("check after the repack = %+v, %v", chk, err)
	}
	dst := t.TempDir()
	replayInto(t, r, second.Snapshot, src, dst, ReplayOptions{})
	if diff := cmp.Diff(state(t, src), state(t, dst)); diff != "" {
		t.Fatalf("replay after the repack differs (-want +got):\n%s", diff)
	}
}

// TestReplayDoesNotFollowSymlinks: a symlink on the target where the
// snapshot's paths lead through a folder is refused before anything is
// written; one where the snapshot has a folder is replaced, never followed.
func TestReplayDoesNotFollowSymlinks(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	src := filepath.Join(t.TempDir(), "home")
	must(t, os.MkdirAll(filepath.Join(src, "jane/docs"), 0o755))
	writeFile(t, filepath.Join(src, "jane/docs/f"), []byte("mine"), 0o644)
	res := backupDir(t, r, src)
	outside := t.TempDir()
	into := t.TempDir()
	// The snapshot's path is .../home; make its parent on the target a
	// link to elsewhere.
	tp := treePath(src)
	parent := filepath.Dir(filepath.Join(into, tp))
	must(t, os.MkdirAll(filepath.Dir(parent), 0o755))
	must(t, os.Symlink(outside, parent))
	_, err := Replay(ctx, r, res.Snapshot, ReplayOptions{Into: into})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("replay through a symlinked parent = %v, want a refusal naming the link", err)
	}
	if n := countFiles(t, outside); n != 0 {
		t.Errorf("the replay wrote %d files through the link", n)
	}
	// A link where the snapshot has a folder is replaced by the folder.
	dst := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(dst, "jane")))
	replayInto(t, r, res.Snapshot, src, dst, ReplayOptions{})
	if fi, err := os.Lstat(filepath.Join(dst, "jane")); err != nil || !fi.IsDir() {
		t.Errorf("jane is %v, %v after replay; want a folder", fi, err)
	}
	if n := countFiles(t, outside); n != 0 {
		t.Errorf("the replay wrote %d files through the link", n)
	}
}
