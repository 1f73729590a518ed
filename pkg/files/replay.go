// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restic/chunker"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/internal/fsync"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// ReplayOptions say where and how to replay a files snapshot.
type ReplayOptions struct {
	// Into is the folder the snapshot's paths land under: tree path P goes
	// to Into/P, a Windows drive dropped ("C:\Users\jane" → Into/Users/jane).
	Into string
	// Map moves tree paths: an entry "SRC=DST" puts SRC and below at
	// Into/DST instead. It is split at its last '=' (parseMap): SRC may
	// hold '=', DST may not.
	Map []string
	// Paths limits the replay to these paths of the snapshot (as backed
	// up: "/home/jane/x", "C:\Users\jane\x"); nil: the snapshot's paths.
	Paths []string
	// KeepDeleted keeps what the target has that the snapshot does not.
	KeepDeleted bool
	// NoClobber refuses to touch an existing entry (files restore without
	// --overwrite): nothing is written when one exists.
	NoClobber bool
	// Checksum reads files whose size and modification time match, to
	// compare their content; by default such a file is taken as unchanged.
	Checksum bool
	DryRun   bool
	Progress progress.Reporter
	// Workers write files (0: four per CPU, at least 8: fetches wait on
	// the network).
	Workers int
	// Like is a files snapshot whose files the target may hold already
	// (nil: the parent of the snapshot replayed, when it is still there),
	// such as the one taken nearest the image a restore put back. Where a
	// target file's size and modification time are those of Like's file at
	// the same path, Like's blobs are taken as what the file holds rather
	// than reading and cutting it. Never trusted: each range reused is
	// checked against its blob's hash, and fetched when it differs.
	Like *repo.Snapshot
}

// ReplaySummary is what a replay did (or, in a dry run, would do).
type ReplaySummary struct {
	Added     int64         `json:"added"` // entries
	Changed   int64         `json:"changed"`
	Deleted   int64         `json:"deleted"`
	Unchanged int64         `json:"unchanged"`
	Unread    int64         `json:"unread"`  // entries the snapshot could not back up, left as they are
	Written   int64         `json:"written"` // bytes written to files
	Reused    int64         `json:"reused"`  // bytes taken from the target's old version of a file
	Fetched   int64         `json:"fetched"` // bytes read from the repository, as stored
	Problems  []string      `json:"problems,omitempty"`
	Duration  time.Duration `json:"-"`
}

// ErrExists is returned by a NoClobber replay when a path it would write
// is there already: nothing is written then.
var ErrExists = errors.New("exists already, and nothing was restored")

// tempPrefix names the files a replay writes before it renames them over
// the old ones: a killed replay leaves them, and the next one removes them.
const tempPrefix = ".rewind-replay-"

type replay struct {
	r     *repo.Repository
	opt   ReplayOptions
	ex    *Excluder
	maps  [][2]string
	sum   ReplaySummary
	mu    sync.Mutex // guards sum.Problems
	added atomic.Int64
	chg   atomic.Int64
	del   atomic.Int64
	same  atomic.Int64
	unr   atomic.Int64
	wrote atomic.Int64
	reuse atomic.Int64
	fetch atomic.Int64
	root  bool // may set owners
	// ntfs: a snapshot of Windows replayed onto a mount of Linux's ntfs3
	// driver, which takes Windows metadata (ntfsMeta).
	ntfs bool
	// sacl: the process holds SeSecurityPrivilege (Windows, elevated),
	// and SACLs are written too.
	sacl bool
	// ownerKept counts the entries whose security descriptor was set
	// without its owner, which Windows refused.
	ownerKept atomic.Int64
	// links: the first target path of each hard-link group, and the
	// later members, linked at the end.
	links map[[2]uint64]string
	later [][2]string // target path, first path
	g     *errgroup.Group
	gctx  context.Context
	sem   chan struct{}
	big   chan struct{} // bounds the files cut into blobs at once
	dirs  []dirMeta     // children before their parents

	// like is the root of opt.Like's tree, or nil.
	like *repo.Blob
	// ahead bounds the folders read ahead of the walk at once.
	ahead chan struct{}
}

// Replay makes the snapshot's folders under opt.Into equal to snapshot s:
// it writes what is new or differs (each file to a temporary name, then
// renamed over the old one), deletes what the snapshot does not have
// (unless KeepDeleted, and never what its exclude patterns left out), and
// sets metadata. Rerun after a kill, it finishes without fetching again
// what is already right.
func Replay(ctx context.Context, r *repo.Repository, s *repo.Snapshot, opt ReplayOptions) (*ReplaySummary, error) {
	start := time.Now()
	if s.Files == nil {
		return nil, fmt.Errorf("snapshot %s is an image, not a files snapshot", repo.ShortID(s.ID()))
	}
	if opt.Progress == nil {
		opt.Progress = progress.Discard
	}
	if opt.Workers <= 0 {
		opt.Workers = max(8, 4*runtime.GOMAXPROCS(0))
	}
	fi, err := os.Stat(opt.Into)
	if err != nil {
		return nil, fmt.Errorf("replaying into %s: %w", opt.Into, plainErr(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("replaying into %s: it is not a folder", opt.Into)
	}
	ex, err := NewExcluder(s.Files.Excludes)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", repo.ShortID(s.ID()), err)
	}
	rp := &replay{r: r, opt: opt, ex: ex, root: canChown(), links: make(map[[2]uint64]string)}
	rp.ntfs = slices.ContainsFunc(s.Files.Paths, isDrive) && onNTFS3(opt.Into)
	// Elevated on Windows, any owner and any descriptor may be written.
	rp.sacl = enablePrivileges(privRestore, privSecurity)[privSecurity]
	for _, m := range opt.Map {
		pair, err := parseMap(m)
		if err != nil {
			return nil, err
		}
		rp.maps = append(rp.maps, pair)
	}
	paths := opt.Paths
	if len(paths) == 0 {
		paths = s.Files.Paths
	}
	if rp.ntfs {
		// Windows finds C:\users\jane in Users\jane; a replay through
		// Linux must too, not make a second folder beside it.
		for _, p := range paths {
			tp := treePath(p)
			parts := splitTree(tp)
			if len(parts) == 0 || !isDrive(parts[0]) || rp.mapped(tp) {
				continue
			}
			if disk := onDiskCase(opt.Into, parts[1:]); !slices.Equal(disk, parts[1:]) {
				rp.maps = append(rp.maps, [2]string{tp, "/" + strings.Join(disk, "/")})
			}
		}
	}

	// Find every start first: an unknown path refuses before anything is
	// written.
	type startPoint struct {
		node   repo.Node
		tp, to string
	}
	var starts []startPoint
	for _, p := range paths {
		tp := treePath(p)
		n, err := Lookup(ctx, r, s.Files.Root(), tp)
		if err != nil {
			return nil, err
		}
		starts = append(starts, startPoint{*n, tp, rp.target(tp)})
	}
	for _, st := range starts {
		if err := rp.parents(st.to, false); err != nil {
			return nil, err
		}
	}
	if opt.NoClobber {
		for _, st := range starts {
			if _, err := os.Lstat(st.to); err == nil {
				return nil, fmt.Errorf("%s: %w", st.to, ErrExists)
			}
		}
	}

	if !opt.DryRun {
		cutOff, err := setMarker(opt.Into, s.ID().String())
		if err != nil {
			return nil, err
		}
		if cutOff && !opt.Checksum {
			opt.Progress.Note(progress.Warning, "the last replay into "+opt.Into+" was cut off: this one reads every file to compare its content")
			rp.opt.Checksum = true
		}
	}

	like := opt.Like
	if like == nil && s.Files.Parent != "" {
		// A hint, not a need: a parent forgotten since, or unreadable,
		// leaves each changed file to be read and cut.
		if id, err := chunk.ParseID(s.Files.Parent); err == nil {
			like, _ = r.LoadSnapshot(ctx, id)
		}
	}
	if like != nil && like.Files != nil {
		root := like.Files.Root()
		rp.like = &root
	}

	opt.Progress.Phase("files", 0)
	g, gctx := errgroup.WithContext(ctx)
	rp.g, rp.gctx, rp.sem, rp.big = g, gctx, make(chan struct{}, opt.Workers), make(chan struct{}, 2)
	rp.ahead = make(chan struct{}, aheadReads)
	var walkErr error
	for _, st := range starts {
		if walkErr = rp.parents(st.to, !opt.DryRun); walkErr != nil {
			break
		}
		if walkErr = rp.entry(gctx, &st.node, st.tp, st.to, rp.likeHolding(st.tp), nil); walkErr != nil {
			break
		}
	}
	// A worker's error cancels gctx, and the walk then stops with
	// "context canceled": the worker's error is the one to tell.
	if err = g.Wait(); err == nil {
		err = walkErr
	}
	if err == nil {
		err = rp.linkAll()
	}
	for _, d := range rp.dirs {
		if err != nil {
			break
		}
		var fi fs.FileInfo
		if fi, _, err = lstat(d.to); err == nil {
			err = rp.meta(d.to, &d.n, fi)
		}
	}
	if n := rp.ownerKept.Load(); n > 0 {
		rp.problem("%d files and folders got the permissions of the snapshot but not its owner, which only an administrator may give: run the replay from an elevated prompt (Run as administrator) to restore owners too", n)
	}
	if err == nil && !opt.DryRun {
		err = syncFS(opt.Into)
	}
	if err == nil && !opt.DryRun {
		err = removeMarker(opt.Into)
	}
	sum := &rp.sum
	sum.Added, sum.Changed, sum.Deleted, sum.Unchanged, sum.Unread = rp.added.Load(), rp.chg.Load(), rp.del.Load(), rp.same.Load(), rp.unr.Load()
	sum.Written, sum.Reused, sum.Fetched = rp.wrote.Load(), rp.reuse.Load(), rp.fetch.Load()
	sum.Duration = time.Since(start)
	if err != nil {
		return sum, fmt.Errorf("%w; what is written is complete file by file: run the replay again to finish", err)
	}
	return sum, nil
}

// Lookup returns the node at path p of the tree rooted at root: a tree
// path ("/home/jane", "/C:/Users/jane") or a path as the user or the
// system writes it (C:\Users\jane).
func Lookup(ctx context.Context, r *repo.Repository, root repo.Blob, p string) (*repo.Node, error) {
	tp := treePath(p)
	n := &repo.Node{Type: repo.NodeDir, Subtree: &root}
	cur := ""
	for _, name := range splitTree(tp) {
		cur += "/" + name
		if n.Type != repo.NodeDir {
			return nil, fmt.Errorf("%s is not in the snapshot: %s is not a folder there", DisplayPath(tp), DisplayPath(cur[:len(cur)-len(name)-1]))
		}
		t, err := r.LoadTree(ctx, *n.Subtree)
		if err != nil {
			return nil, err
		}
		k := sort.Search(len(t.Nodes), func(i int) bool { return t.Nodes[i].Name >= name })
		if k == len(t.Nodes) || t.Nodes[k].Name != name {
			return nil, fmt.Errorf("%s is not in the snapshot; 'rewind files ls' lists what is", DisplayPath(cur))
		}
		n = &t.Nodes[k]
	}
	return n, nil
}

// treePath turns a path as given by a user or the system (C:\Users\jane,
// c:\Users\jane, \\?\C:\Users\jane, /home/jane) into a tree path
// (/C:/Users/jane, /home/jane). A tree path is returned as it is, but for
// the case of its drive letter.
func treePath(p string) string {
	p = dropExtended(p)
	if isDrive(p) || len(p) > 2 && p[0] == '/' && isDrive(p[1:]) {
		p = "/" + strings.ReplaceAll(strings.TrimPrefix(p, "/"), `\`, "/")
	}
	parts := splitTree(p)
	if len(parts) > 0 && isDrive(parts[0]) {
		parts[0] = strings.ToUpper(parts[0])
	}
	return "/" + strings.Join(parts, "/")
}

// parseMap splits a --map entry "SRC=DST" into tree paths at its last
// '=': SRC is a path as the machine backed up had it, which may hold any
// character ("/srv/a=b"), while DST is a folder the person replaying
// chooses now, under the mount point.
func parseMap(m string) ([2]string, error) {
	i := strings.LastIndex(m, "=")
	if i <= 0 {
		return [2]string{}, fmt.Errorf("--map %q: want SRC=DST (split at the last '=': SRC may hold '=', DST may not)", m)
	}
	return [2]string{treePath(m[:i]), treePath(m[i+1:])}, nil
}

// isDrive reports whether p starts with a Windows drive letter and its
// colon ("C:", "c:\Users").
func isDrive(p string) bool {
	return len(p) >= 2 && p[1] == ':' && ('A' <= p[0] && p[0] <= 'Z' || 'a' <= p[0] && p[0] <= 'z') &&
		(len(p) == 2 || p[2] == '\\' || p[2] == '/')
}

// Drive returns the Windows drive that a snapshot path starts with ("C:"
// of C:\Users\jane, c:\Users\jane or \\?\C:\Users\jane), or "" for a
// path of another system.
func Drive(p string) string {
	p = dropExtended(p)
	if !isDrive(p) {
		return ""
	}
	return strings.ToUpper(p[:2])
}

// DisplayPath returns tree path tp as its own system writes it, whichever
// system shows it: a path under a Windows drive (/C:/Users/jane) as
// C:\Users\jane, others as they are.
func DisplayPath(tp string) string {
	parts := splitTree(tp)
	if len(parts) == 0 || !isDrive(parts[0]) {
		return tp
	}
	if len(parts) == 1 {
		return parts[0] + `\`
	}
	return strings.Join(parts, `\`)
}

func splitTree(tp string) []string {
	var out []string
	for _, s := range strings.Split(tp, "/") {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
}

// mapped reports whether a --map moves tree path tp.
func (rp *replay) mapped(tp string) bool {
	for _, m := range rp.maps {
		if tp == m[0] || strings.HasPrefix(tp, m[0]+"/") {
			return true
		}
	}
	return false
}

// onDiskCase returns path names (users, jane) under folder into spelt
// as the folders there spell them (Users, Jane): a name that is not there
// as given is looked for ignoring case, as Windows looks; one not there
// at all keeps its spelling.
func onDiskCase(into string, names []string) []string {
	var out []string
	for _, name := range names {
		dir := filepath.Join(append([]string{into}, out...)...)
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			if names, err := readNames(dir); err == nil {
				for _, n := range names {
					if strings.EqualFold(n, name) {
						name = n
						break
					}
				}
			}
		}
		out = append(out, name)
	}
	return out
}

// target returns where tree path tp lands.
func (rp *replay) target(tp string) string {
	for _, m := range rp.maps {
		if tp == m[0] || strings.HasPrefix(tp, m[0]+"/") {
			return filepath.Join(rp.opt.Into, filepath.FromSlash(m[1]+tp[len(m[0]):]))
		}
	}
	parts := splitTree(tp)
	if len(parts) > 0 && len(parts[0]) == 2 && parts[0][1] == ':' {
		parts = parts[1:] // a Windows drive
	}
	return filepath.Join(append([]string{rp.opt.Into}, parts...)...)
}

func (rp *replay) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	rp.mu.Lock()
	rp.sum.Problems = append(rp.sum.Problems, msg)
	rp.mu.Unlock()
	rp.opt.Progress.Note(progress.Warning, msg)
}

// entry makes target path to equal node n (tree path tp). Files are
// handed to the workers; folders are walked here. in is the folder of the
// Like snapshot at tp's parent (nil when there is none); ls is folder n
// read ahead, or nil.
func (rp *replay) entry(ctx context.Context, n *repo.Node, tp, to string, in *likeDir, ls *listing) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rp.opt.Progress.Add(progress.Items, 1)
	if n.Unread {
		rp.unr.Add(1)
		return nil
	}
	if n.Links > 1 && n.Type == repo.NodeFile && n.Inode != 0 {
		key := [2]uint64{n.Dev, n.Inode}
		if first, ok := rp.links[key]; ok {
			rp.later = append(rp.later, [2]string{to, first})
			return nil
		}
		rp.links[key] = to
	}
	if n.Type == repo.NodeFile {
		// Files, even their Lstat, are the workers': most are unchanged,
		// and the walk goes on while they look.
		select {
		case rp.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		rp.g.Go(func() error {
			defer func() { <-rp.sem }()
			fi, exists, err := lstat(to)
			if err != nil {
				return err
			}
			if exists && fi.Mode().IsRegular() && uint64(fi.Size()) == n.Size && fi.ModTime().UnixNano() == n.MTime && !rp.opt.Checksum {
				return rp.unchanged(to, n, fi)
			}
			return rp.file(rp.gctx, n, to, fi, exists, in)
		})
		return nil
	}
	var fi fs.FileInfo
	var exists bool
	var err error
	if ls != nil {
		if ls, err = ls.wait(ctx); err != nil {
			return err
		}
		fi, exists, err = ls.fi, ls.exists, ls.err
	} else {
		fi, exists, err = lstat(to)
	}
	if err != nil {
		return err
	}
	if n.Type == repo.NodeDir {
		return rp.dir(ctx, n, tp, to, fi, exists, in.sub(rp.r, n.Name), ls)
	}
	return rp.special(n, to, fi, exists)
}

// parents checks the folders between Into and path to, and with make
// makes those missing. It never follows a symlink there: on a restored
// filesystem mounted at Into, an absolute symlink such as /home -> /data
// would lead a replay out of it, onto the system it runs on.
func (rp *replay) parents(to string, make bool) error {
	into := filepath.Clean(rp.opt.Into)
	if filepath.Clean(to) == into {
		return nil // the folder given: the user's to trust
	}
	rel, err := filepath.Rel(into, filepath.Dir(to))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s is not under %s (internal error)", to, into)
	}
	if rel == "." {
		return nil
	}
	p := into
	for _, c := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, c)
		fi, exists, err := lstat(p)
		switch {
		case err != nil:
			return err
		case !exists && !make:
			return nil // nothing below it exists either
		case !exists:
			if err := os.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("making folder %s: %w", p, plainErr(err))
			}
		case fi.Mode().Type() == fs.ModeSymlink:
			t, _ := os.Readlink(p)
			return fmt.Errorf("%s is a symbolic link (to %s): a replay does not follow it, since it could lead out of %s; move the folder with --map SRC=DST, or replace the link by the folder", p, t, into)
		case !fi.IsDir():
			return fmt.Errorf("%s is not a folder, and the snapshot's paths lie below it; move them with --map SRC=DST", p)
		}
	}
	return nil
}

// lstat returns what is at p, if anything.
func lstat(p string) (fs.FileInfo, bool, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", p, plainErr(err))
	}
	return fi, true, nil
}

// dir makes folder to equal n, its entries first; like is the same folder
// of the Like snapshot, and ls the folder read ahead (nil: read here).
func (rp *replay) dir(ctx context.Context, n *repo.Node, tp, to string, fi fs.FileInfo, exists bool, like *likeDir, ls *listing) error {
	if exists && !fi.IsDir() {
		if err := rp.remove(to); err != nil {
			return err
		}
		exists = false
	}
	if !exists {
		rp.added.Add(1)
		if !rp.opt.DryRun {
			if err := os.Mkdir(to, 0o700); err != nil {
				return fmt.Errorf("making folder %s: %w", to, plainErr(err))
			}
		}
	}
	var t *repo.Tree
	var err error
	if ls != nil {
		t, err = ls.tree, ls.terr
	} else {
		t, err = rp.r.LoadTree(ctx, *n.Subtree)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", DisplayPath(tp), err)
	}
	want := make(map[string]bool, len(t.Nodes))
	for k := range t.Nodes {
		want[t.Nodes[k].Name] = true
	}
	// What the target has and the snapshot does not: deleted since, or a
	// leftover of a killed replay.
	if exists {
		var names []string
		if ls != nil {
			names, err = ls.names, ls.nerr
		} else {
			names, err = readNames(to)
		}
		if err != nil {
			return fmt.Errorf("listing %s: %w", to, err)
		}
		for _, name := range names {
			if want[name] {
				continue
			}
			p := filepath.Join(to, name)
			switch {
			case name == markerName && to == filepath.Clean(rp.opt.Into):
			case strings.HasPrefix(name, tempPrefix):
				if !rp.opt.DryRun {
					os.Remove(p)
				}
			case rp.opt.KeepDeleted || rp.ex.Match(tp+"/"+name):
			default:
				rp.del.Add(1)
				if err := rp.remove(p); err != nil {
					return err
				}
			}
		}
	}
	ahead := rp.readAhead(ctx, t.Nodes, to)
	for k := range t.Nodes {
		c := &t.Nodes[k]
		if err := rp.entry(ctx, c, tp+"/"+c.Name, filepath.Join(to, c.Name), like, ahead.take(k)); err != nil {
			return err
		}
	}
	// The folder's metadata last, once its files are written (renaming
	// them into it changes its times): after the workers are done.
	m := *n
	m.Subtree = nil
	rp.mu.Lock()
	rp.dirs = append(rp.dirs, dirMeta{to, m})
	rp.mu.Unlock()
	return nil
}

type dirMeta struct {
	to string
	n  repo.Node
}

// likeDir is a folder of the Like snapshot, its tree read when a file in
// it first asks (most folders hold no changed file, and none is read for
// them). The walk makes one per folder of the snapshot replayed; each
// keeps its parent, so what is kept is a path's worth of trees.
// Its methods may be called concurrently.
type likeDir struct {
	up    *likeDir // the folder holding this one
	name  string   // this one's name in up
	r     *repo.Repository
	once  sync.Once
	nodes []repo.Node
}

// likeHolding returns the folder of the Like snapshot that holds tree path
// tp, or nil without a Like snapshot.
func (rp *replay) likeHolding(tp string) *likeDir {
	if rp.like == nil {
		return nil
	}
	root := &likeDir{r: rp.r}
	root.once.Do(func() { root.nodes = []repo.Node{{Type: repo.NodeDir, Subtree: rp.like}} })
	// The root folder is the entry "" of a folder above it, as Lookup
	// names it.
	d := root.sub(rp.r, "")
	parts := splitTree(tp)
	for k := 0; k+1 < len(parts); k++ {
		d = d.sub(rp.r, parts[k])
	}
	if len(parts) == 0 {
		return root
	}
	return d
}

// sub returns folder name of d (nil when d is nil).
func (d *likeDir) sub(r *repo.Repository, name string) *likeDir {
	if d == nil {
		return nil
	}
	return &likeDir{up: d, name: name, r: r}
}

// node returns d's entry name, or nil when d or the entry is not there or
// its tree cannot be read.
func (d *likeDir) node(ctx context.Context, name string) *repo.Node {
	if d == nil {
		return nil
	}
	d.once.Do(func() {
		n := d.up.node(ctx, d.name)
		if n == nil || n.Type != repo.NodeDir || n.Subtree == nil {
			return
		}
		if t, err := d.r.LoadTree(ctx, *n.Subtree); err == nil {
			d.nodes = t.Nodes
		}
	})
	k := sort.Search(len(d.nodes), func(i int) bool { return d.nodes[i].Name >= name })
	if k == len(d.nodes) || d.nodes[k].Name != name {
		return nil
	}
	return &d.nodes[k]
}

// file writes file n to target path to: to a temporary name beside it,
// from the target's old version where it holds the same blobs and from the
// repository elsewhere, synced, its metadata set, then renamed over it.
// What the old version holds is what the Like snapshot's file at the same
// path held, when its size and time are the target's (in is its folder
// there); otherwise the old version is read and cut.
func (rp *replay) file(ctx context.Context, n *repo.Node, to string, fi fs.FileInfo, exists bool, in *likeDir) error {
	regular := exists && fi.Mode().IsRegular()
	var old *os.File
	defer func() {
		if old != nil {
			old.Close()
		}
	}()
	var have map[chunk.ID]int64
	hinted := false
	if regular {
		if ln := in.node(ctx, n.Name); ln != nil && ln.Type == repo.NodeFile && !ln.Unread &&
			ln.Size == uint64(fi.Size()) && ln.MTime == fi.ModTime().UnixNano() {
			have, hinted = blobsAt(ln.Content), true
		}
		// The old version is opened when it may serve: always but when
		// the hint says none of its blobs is n's.
		if !hinted || reusable(n, have) {
			f, err := os.Open(to)
			if err == nil {
				old = f
			}
		}
		if old != nil && hinted && sameContent(n, have, fi.Size()) {
			// The hint says the target holds n's content: it is read to
			// be sure, and cut after all when it does not.
			same, err := rp.holds(ctx, old, n)
			if err != nil {
				return fmt.Errorf("reading %s: %w", to, err)
			}
			if same {
				return rp.unchanged(to, n, fi)
			}
			have, hinted = nil, false
		}
		if old != nil && !hinted {
			var err error
			if have, err = rp.blobsOf(ctx, old, fi.Size()); err != nil {
				return fmt.Errorf("reading %s: %w", to, err)
			}
			if sameContent(n, have, fi.Size()) {
				return rp.unchanged(to, n, fi)
			}
		}
	}
	if !rp.changing(exists) {
		return nil
	}
	if exists && !regular {
		if err := rp.remove(to); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(to), tempPrefix)
	if err != nil {
		return fmt.Errorf("writing %s: %w", to, plainErr(err))
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := rp.content(ctx, n, to, tmp, old, have, hinted); err != nil {
		return err
	}
	// Not synced here but on Windows: the replay syncs the filesystem at
	// its end, and a replay cut off before that is followed by one that
	// compares content (the marker file).
	if err := syncFile(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", to, plainErr(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", to, plainErr(err))
	}
	if err := rp.basicMeta(tmp.Name(), n, nil); err != nil {
		return err
	}
	// Windows renames nothing over a file that is open.
	if old != nil {
		old.Close()
		old = nil
	}
	if err := replaceFile(tmp.Name(), to); err != nil {
		return fmt.Errorf("writing %s: %w", to, plainErr(err))
	}
	ok = true
	// The descriptor once in place: one that denies the replay would
	// keep it from renaming the file.
	rp.security(to, n)
	return nil
}

// content writes n's content to tmp (the target to's new version): each
// blob that have places in old, the target's old version (nil when there
// is none), is read there and checked; the others are fetched, runs of
// them that lie one after the other in a pack in one read. A reused range
// that does not check is an error, as the file changed while it was read,
// but where have came from the Like snapshot (hinted): that blob is
// fetched then.
func (rp *replay) content(ctx context.Context, n *repo.Node, to string, tmp, old *os.File, have map[chunk.ID]int64, hinted bool) error {
	write := func(p []byte) error {
		if _, err := tmp.Write(p); err != nil {
			return fmt.Errorf("writing %s: %w", to, plainErr(err))
		}
		rp.wrote.Add(int64(len(p)))
		rp.opt.Progress.Add(progress.Written, int64(len(p)))
		return nil
	}
	var run []repo.Blob // to fetch, adjacent in one pack
	var runBytes int64
	fetch := func() error {
		if len(run) == 0 {
			return nil
		}
		err := rp.r.LoadBlobs(ctx, run, func(k int, p []byte) error {
			b := run[k]
			if len(p) != int(b.Size) {
				return fmt.Errorf("blob %s has %d bytes, the snapshot says %d: %w", b.ID.Short(), len(p), b.Size, chunk.ErrCorrupt)
			}
			rp.fetch.Add(int64(b.Len))
			rp.opt.Progress.Add(progress.Fetched, int64(b.Len))
			return write(p)
		})
		run, runBytes = run[:0], 0
		if err != nil {
			return fmt.Errorf("fetching %s: %w", to, err)
		}
		return nil
	}
	var buf []byte
	for _, b := range n.Content {
		if off, ok := have[b.ID]; ok && old != nil {
			if cap(buf) < int(b.Size) {
				buf = make([]byte, b.Size)
			}
			p := buf[:b.Size]
			if _, err := old.ReadAt(p, off); err != nil && !(hinted && errors.Is(err, io.EOF)) {
				return fmt.Errorf("reading %s: %w", to, plainErr(err))
			}
			switch {
			case chunk.Hash(p) == b.ID:
				if err := fetch(); err != nil {
					return err
				}
				rp.reuse.Add(int64(b.Size))
				rp.opt.Progress.Add(progress.Skipped, int64(b.Size))
				if err := write(p); err != nil {
					return err
				}
				continue
			case !hinted:
				return fmt.Errorf("%s changed while the replay read it; run the replay again", to)
			}
		}
		if len(run) > 0 && (!repo.BlobsAdjacent(run[len(run)-1], b) || runBytes+int64(b.Len) > repo.MaxRunBytes) {
			if err := fetch(); err != nil {
				return err
			}
		}
		run = append(run, b)
		runBytes += int64(b.Len)
	}
	return fetch()
}

// holds reports whether file f holds n's content: every blob's bytes, at
// their place, hash to its id. It reads no further than the first that
// does not.
func (rp *replay) holds(ctx context.Context, f *os.File, n *repo.Node) (bool, error) {
	var buf []byte
	var off int64
	for _, b := range n.Content {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if cap(buf) < int(b.Size) {
			buf = make([]byte, b.Size)
		}
		p := buf[:b.Size]
		if _, err := f.ReadAt(p, off); errors.Is(err, io.EOF) {
			return false, nil
		} else if err != nil {
			return false, plainErr(err)
		}
		if chunk.Hash(p) != b.ID {
			return false, nil
		}
		off += int64(b.Size)
	}
	return true, nil
}

// blobsAt returns where each of blobs bs, the content of a file, starts
// in it.
func blobsAt(bs []repo.Blob) map[chunk.ID]int64 {
	have := make(map[chunk.ID]int64, len(bs))
	var off int64
	for _, b := range bs {
		if _, ok := have[b.ID]; !ok {
			have[b.ID] = off
		}
		off += int64(b.Size)
	}
	return have
}

// reusable reports whether n has a blob that have lists.
func reusable(n *repo.Node, have map[chunk.ID]int64) bool {
	for _, b := range n.Content {
		if _, ok := have[b.ID]; ok {
			return true
		}
	}
	return false
}

// blobsOf cuts file f (size bytes) as a backup does and returns where
// each of its blobs starts.
func (rp *replay) blobsOf(ctx context.Context, f *os.File, size int64) (map[chunk.ID]int64, error) {
	have := make(map[chunk.ID]int64)
	if size < MinBlob {
		// One blob: the whole file.
		p := make([]byte, size)
		if _, err := io.ReadFull(f, p); err != nil {
			return nil, err
		}
		have[chunk.Hash(p)] = 0
		return have, nil
	}
	select {
	case rp.big <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-rp.big }()
	ch := chunker.New(f, Pol)
	buf := make([]byte, MaxBlob)
	var off int64
	for {
		c, err := ch.Next(buf)
		if err == io.EOF {
			return have, nil
		}
		if err != nil {
			return nil, err
		}
		if _, ok := have[chunk.Hash(c.Data)]; !ok {
			have[chunk.Hash(c.Data)] = off
		}
		off += int64(c.Length)
	}
}

// sameContent reports whether a file of size bytes whose blobs are have
// holds n's content.
func sameContent(n *repo.Node, have map[chunk.ID]int64, size int64) bool {
	if uint64(size) != n.Size {
		return false
	}
	var off int64
	for _, b := range n.Content {
		if at, ok := have[b.ID]; !ok || at != off {
			return false
		}
		off += int64(b.Size)
	}
	return true
}

// special makes a symlink or device at to equal n.
func (rp *replay) special(n *repo.Node, to string, fi fs.FileInfo, exists bool) error {
	if n.Type == repo.NodeReparse {
		rp.problem("%s is a Windows reparse point (a junction or cloud placeholder): not replayed", to)
		return nil
	}
	if exists && n.Type == repo.NodeDevice && sameDevice(fi, n) {
		return rp.unchanged(to, n, fi)
	}
	if exists && n.Type == repo.NodeSymlink && fi.Mode().Type() == fs.ModeSymlink {
		if t, err := os.Readlink(to); err == nil && t == n.Target {
			return rp.unchanged(to, n, fi)
		}
	}
	if !rp.changing(exists) {
		return nil
	}
	if exists {
		if err := rp.remove(to); err != nil {
			return err
		}
	}
	switch n.Type {
	case repo.NodeSymlink:
		if err := os.Symlink(n.Target, to); err != nil {
			return fmt.Errorf("making symlink %s: %w", to, plainErr(err))
		}
	case repo.NodeDevice:
		if err := mknod(to, n); err != nil {
			rp.problem("%s: a device or FIFO could not be made: %v", to, plainErr(err))
			return nil
		}
	}
	return rp.meta(to, n, nil)
}

// unchanged counts entry to, which holds n's content already, and sets
// the metadata that differs.
func (rp *replay) unchanged(to string, n *repo.Node, fi fs.FileInfo) error {
	rp.same.Add(1)
	return rp.meta(to, n, fi)
}

// changing counts an entry about to be written (changed when something
// was there, added when not) and reports whether to write it: not in a
// dry run.
func (rp *replay) changing(exists bool) bool {
	if exists {
		rp.chg.Add(1)
	} else {
		rp.added.Add(1)
	}
	return !rp.opt.DryRun
}

// remove removes what is at p, a folder with everything in it.
func (rp *replay) remove(p string) error {
	if rp.opt.DryRun {
		return nil
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("removing %s: %w", p, plainErr(err))
	}
	return nil
}

// linkAll makes the later members of each hard-link group links to the
// first.
func (rp *replay) linkAll() error {
	for _, l := range rp.later {
		to, first := l[0], l[1]
		a, errA := os.Lstat(to)
		b, errB := os.Lstat(first)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			rp.same.Add(1)
			continue
		}
		if errA == nil {
			rp.chg.Add(1)
		} else {
			rp.added.Add(1)
		}
		if rp.opt.DryRun {
			continue
		}
		if errA == nil {
			if err := rp.remove(to); err != nil {
				return err
			}
		}
		if err := os.Link(first, to); err != nil {
			return fmt.Errorf("linking %s to %s: %w", to, first, plainErr(err))
		}
	}
	return nil
}

// meta sets n's metadata on the entry at p (fi its Lstat result, or nil):
// basicMeta, then on Windows its security descriptor.
func (rp *replay) meta(p string, n *repo.Node, fi fs.FileInfo) error {
	if err := rp.basicMeta(p, n, fi); err != nil {
		return err
	}
	rp.security(p, n)
	return nil
}

// basicMeta sets n's metadata but the Windows security descriptor on the
// entry at p (fi its Lstat result, or nil): owner, extended attributes,
// times, Windows attributes, mode. The mode comes last: a file made
// read-only first would refuse extended attributes to a user who is not
// root, and under Wine setting a file's times resets its Windows
// attributes, read-only included (Windows itself leaves them alone).
func (rp *replay) basicMeta(p string, n *repo.Node, fi fs.FileInfo) error {
	if rp.opt.DryRun {
		return nil
	}
	if rp.ntfs {
		return rp.ntfsMeta(p, n, fi)
	}
	link := n.Type == repo.NodeSymlink
	if fi != nil && fi.ModTime().UnixNano() == n.MTime && (link || fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) == fileMode(n)) && (!rp.root || ownedAs(fi, n)) && sameAttrs(fi, n) {
		return nil // as it should be
	}
	if rp.root {
		if err := os.Lchown(p, int(n.UID), int(n.GID)); err != nil {
			return fmt.Errorf("setting the owner of %s: %w", p, plainErr(err))
		}
	}
	if err := rp.setXattrs(p, n); err != nil {
		return err
	}
	if err := setTimes(p, n, link); err != nil {
		return fmt.Errorf("setting the times of %s: %w", p, plainErr(err))
	}
	if err := setAttrs(p, n); err != nil {
		return fmt.Errorf("setting the attributes of %s: %w", p, plainErr(err))
	}
	if !link && n.Type != repo.NodeDevice {
		if err := os.Chmod(p, fileMode(n)); err != nil {
			return fmt.Errorf("setting the mode of %s: %w", p, plainErr(err))
		}
	}
	return nil
}

// security gives the entry at p n's Windows security descriptor when it
// has another, as it is: owner, group, DACL (and the SACL when the snapshot
// has one and the process may write it). On Windows only: onto ntfs3,
// ntfsMeta sets it. It comes after all else, since a descriptor may deny
// the replay the rights to set the entry's times and attributes. One that
// cannot be set is a problem, not an error: the entry is there, with its
// folder's permissions. Without the right to give the snapshot's owner,
// the rest is set and the entry counted (ownerKept).
func (rp *replay) security(p string, n *repo.Node) {
	if rp.opt.DryRun || rp.ntfs || !needsSecurity(p, n.Security, rp.sacl) {
		return
	}
	ownerSet, err := setSecurity(p, n.Security, rp.sacl)
	if err != nil {
		rp.problem("%s: its Windows security descriptor could not be set, so it has its folder's: %v", p, plainErr(err))
		return
	}
	if !ownerSet {
		rp.ownerKept.Add(1)
	}
}

// ntfsSettable are the Windows file attributes (winnt.h) a replay onto
// ntfs3 sets from the snapshot: read-only, hidden, system, archive,
// temporary, offline and not content indexed. Compression, encryption,
// sparseness and reparse points stand for structures of their own that a
// flag alone does not make; they stay as the target has them.
const ntfsSettable = 0x1 | 0x2 | 0x4 | 0x20 | 0x100 | 0x1000 | 0x2000

// ntfsMeta sets Windows node n's metadata on the entry at p of an ntfs3
// mount (fi its Lstat result, or nil): its security descriptor where the
// snapshot has one and its attributes, through the driver's extended
// attributes (system.ntfs_security, system.ntfs_attrib_be), then its
// modification time. Owner and mode are not set: on NTFS the descriptor
// holds them, and setting them through Linux would only add WSL's $LXUID,
// $LXGID and $LXMOD to the file (ntfs3 gives those to each file it makes).
// The creation time stays the one ntfs3 gave: it offers no way to set it.
func (rp *replay) ntfsMeta(p string, n *repo.Node, fi fs.FileInfo) error {
	link := n.Type == repo.NodeSymlink
	if link {
		if fi != nil && fi.ModTime().UnixNano() == n.MTime {
			return nil
		}
		if err := setTimes(p, n, true); err != nil {
			return fmt.Errorf("setting the times of %s: %w", p, plainErr(err))
		}
		return nil
	}
	cur, err := ntfsAttrs(p)
	if err != nil {
		return fmt.Errorf("reading the Windows attributes of %s: %w", p, plainErr(err))
	}
	want := cur&^ntfsSettable | n.Attrs&ntfsSettable
	sdOK := len(n.Security) == 0 || hasNTFSSecurity(p, n.Security)
	if fi != nil && fi.ModTime().UnixNano() == n.MTime && cur == want && sdOK {
		return nil // as it should be
	}
	if !sdOK {
		if err := setNTFSSecurity(p, n.Security); err != nil {
			rp.problem("%s: its Windows security descriptor could not be set, so it has its folder's: %v", p, plainErr(err))
		}
	}
	if cur != want {
		if err := setNTFSAttrs(p, want); err != nil {
			return fmt.Errorf("setting the Windows attributes of %s: %w", p, plainErr(err))
		}
	}
	if err := setTimes(p, n, false); err != nil {
		return fmt.Errorf("setting the times of %s: %w", p, plainErr(err))
	}
	return nil
}

// setXattrs makes the entry's extended attributes n's: user and trusted
// ones it does not have are removed; security and system ones are only
// set (an SELinux label or ACL of the target system stays).
func (rp *replay) setXattrs(p string, n *repo.Node) error {
	want := make(map[string]bool, len(n.Xattrs))
	for _, x := range n.Xattrs {
		want[x.Name] = true
		if err := setXattr(p, x); err != nil {
			rp.problem("%s: extended attribute %s could not be set: %v", p, x.Name, plainErr(err))
		}
	}
	names, err := listXattrNames(p)
	if err != nil {
		return nil
	}
	for _, name := range names {
		if !want[name] && (strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "trusted.")) {
			removeXattr(p, name)
		}
	}
	return nil
}

// fileMode returns the os.FileMode of n's permission and special bits.
func fileMode(n *repo.Node) fs.FileMode {
	m := fs.FileMode(n.Mode & 0o777)
	if n.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// readNames lists folder p.
func readNames(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, plainErr(err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return names, plainErr(err)
}

// markerName is the file a replay keeps in its target folder while it
// runs. Files are written without a sync each and the filesystem is synced
// at the end: a replay that finds the marker knows the last one was cut
// off, and a file renamed into place before a power cut may hold the right
// size and time but not yet its bytes, so it compares content.
const markerName = ".rewind-replay-running"

// setMarker puts the marker into dir, durably, and reports whether one
// was there.
func setMarker(dir, what string) (bool, error) {
	p := filepath.Join(dir, markerName)
	_, err := os.Lstat(p)
	was := err == nil
	f, err := os.Create(p)
	if err != nil {
		return false, fmt.Errorf("replaying into %s: %w", dir, plainErr(err))
	}
	_, err = f.WriteString("a rewind files replay of " + what + " is running, or was cut off: run it again\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsync.Dir(dir)
	}
	if err != nil {
		return false, fmt.Errorf("replaying into %s: %w", dir, plainErr(err))
	}
	return was, nil
}

// removeMarker removes the marker once the replay is synced.
func removeMarker(dir string) error {
	if err := os.Remove(filepath.Join(dir, markerName)); err != nil {
		return fmt.Errorf("replaying into %s: %w", dir, plainErr(err))
	}
	return fsync.Dir(dir)
}
