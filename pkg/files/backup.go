// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package files backs up user folders from a running system into a
// repository (format 2), and replays a files snapshot onto a folder: the
// restored filesystem of a machine, or any folder of a running system.
//
// A backup walks the paths, compares each file with the machine's previous
// files snapshot (size, modification and change time, inode: an unchanged
// file is not read), cuts changed files with content-defined chunking and
// stores the blobs the repository lacks, in packs. The folders become
// trees (repo.Tree), written once every blob they name is durable, and the
// snapshot last.
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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/restic/chunker"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/internal/pipeline"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// Pol is the polynomial of the content-defined chunker. It is fixed: the
// same content cuts the same way on every machine, so that identical files
// share blobs across machines.
const Pol = chunker.Pol(0x3DA3358B4DC173)

// Chunker bounds: restic's (512 KiB to 8 MiB, 1 MiB on average). A file
// smaller than the minimum is one blob.
const (
	MinBlob = chunker.MinSize
	MaxBlob = chunker.MaxSize
)

// Options of a backup.
type Options struct {
	Machine string
	// Paths to back up, absolute. Empty: DefaultPaths.
	Paths []string
	// Excludes are patterns left out (see Match); nil: DefaultExcludes.
	Excludes []string
	// NoParent reads every file, as if there were no previous snapshot.
	NoParent bool
	Host     string
	Note     string
	Progress progress.Reporter
	// Workers read and chunk files (0: one per CPU).
	Workers  int
	LockWait time.Duration
	Now      func() time.Time
}

// Result of a backup.
type Result struct {
	Snapshot *repo.Snapshot
	Stats    repo.FilesStats
	Problems []repo.FileProblem // every one, not only those the snapshot keeps
	Duration time.Duration
}

// ErrNothingStored is returned when not one path could be backed up.
var ErrNothingStored = errors.New("nothing could be backed up")

// item is a node being built, with its children for a folder.
type item struct {
	repo.Node
	sub []*item
}

// backup is one run's state.
type backup struct {
	r     *repo.Repository
	opt   Options
	idx   *repo.Index
	saver *repo.Saver
	known sync.Map // chunk.ID → struct{}: stored by this run
	stats repo.FilesStats
	mu    sync.Mutex // guards stats and problems
	probs []repo.FileProblem
	ex    *Excluder
	jobs  chan fileJob
	tops  []*item // the paths asked for
	// sacl: the process holds SeSecurityPrivilege (Windows, elevated),
	// and security descriptors are read with their SACL.
	sacl bool
}

type fileJob struct {
	it   *item
	path string
}

// Backup backs up opt.Paths into r as a files snapshot of opt.Machine.
func Backup(ctx context.Context, r *repo.Repository, opt Options) (*Result, error) {
	if err := repo.ValidMachine(opt.Machine); err != nil {
		return nil, err
	}
	if !r.Packed() {
		return nil, fmt.Errorf("%s is a format-%d repository; files backups need format 2 (blobs in packs): make a new repository with 'rewind init' and capture into it", r.Location(), r.Config().Version)
	}
	if opt.Progress == nil {
		opt.Progress = progress.Discard
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if len(opt.Paths) == 0 {
		opt.Paths = DefaultPaths()
	}
	if opt.Excludes == nil {
		opt.Excludes = DefaultExcludes()
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	start := opt.Now()
	ex, err := NewExcluder(opt.Excludes)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, p := range opt.Paths {
		p, err := localPath(p)
		if err != nil {
			return nil, fmt.Errorf("%w; nothing was backed up", err)
		}
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("path %q is not absolute: give the full path", p)
		}
		p = filepath.Clean(p)
		if _, err := os.Lstat(p); err != nil {
			return nil, fmt.Errorf("backing up %s: %w; nothing was backed up", p, plainErr(err))
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)

	lock, err := r.Lock(ctx, false, "backup", opt.Machine, opt.LockWait, repo.Locker{})
	if err != nil {
		return nil, fmt.Errorf("locking %s for the backup: %w", r.Location(), err)
	}
	defer lock.Unlock(context.WithoutCancel(ctx))

	opt.Progress.Phase("index", 0)
	// Bounded: the parent's files keep their places (allKnown), so the
	// index serves to store each new blob once.
	idx, err := r.LoadIndexWith(ctx, repo.IndexOptions{Max: repo.DefaultIndexMax})
	if err != nil {
		return nil, fmt.Errorf("learning which blobs %s holds: %w", r.Location(), err)
	}
	b := &backup{r: r, opt: opt, idx: idx, saver: r.NewSaver(idx), ex: ex}
	// Elevated on Windows, any descriptor may be read, SACL included.
	b.sacl = enablePrivileges(privBackup, privSecurity)[privSecurity]

	var parent *repo.Snapshot
	if !opt.NoParent {
		parent, err = latestFiles(ctx, r, opt.Machine)
		if err != nil {
			opt.Progress.Note(progress.Warning, fmt.Sprintf("the previous files snapshot of %s cannot be used (%v); every file is read", opt.Machine, err))
			parent = nil
		}
	}
	var prev *prevEntry
	if parent != nil {
		root := parent.Files.Root()
		prev = &prevEntry{b: b, n: &repo.Node{Type: repo.NodeDir, Subtree: &root}}
	}

	opt.Progress.Phase("files", 0)
	root := &item{Node: repo.Node{Type: repo.NodeDir}}
	g, gctx := errgroup.WithContext(ctx)
	b.jobs = make(chan fileJob, 4*opt.Workers)
	pipeline.Stage[fileJob](g, opt.Workers, nil, func() error { return b.chunkFiles(gctx) })
	g.Go(func() error {
		defer close(b.jobs)
		for _, p := range paths {
			if err := b.addPath(gctx, root, prev, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	stored := false
	for _, it := range b.tops {
		stored = stored || !it.Unread
	}
	if !stored {
		return nil, fmt.Errorf("%w: %s", ErrNothingStored, firstProblem(b.probs))
	}

	opt.Progress.Phase("trees", 0)
	if err := b.saver.Flush(ctx); err != nil {
		return nil, err
	}
	ts := b.saver.NewTreeSaver()
	rootBlob, err := b.saveTree(ctx, ts, root)
	if err != nil {
		return nil, err
	}
	if rootBlob, err = ts.Flush(ctx, rootBlob); err != nil {
		return nil, err
	}

	f := &repo.Files{Paths: paths, Excludes: opt.Excludes, Stats: &b.stats}
	f.SetRoot(rootBlob)
	if parent != nil {
		f.Parent = parent.ID().String()
	}
	f.Problems = b.probs[:min(len(b.probs), repo.MaxFileProblems)]
	snap := &repo.Snapshot{
		Kind: repo.KindFiles, Machine: opt.Machine, Time: start, Host: opt.Host, Note: opt.Note,
		Duration: repo.Duration(opt.Now().Sub(start)), Files: f,
	}
	opt.Progress.Phase("snapshot", 1)
	if _, err := r.SaveSnapshot(ctx, snap); err != nil {
		return nil, err
	}
	opt.Progress.Add(progress.Done, 1)
	return &Result{Snapshot: snap, Stats: b.stats, Problems: b.probs, Duration: opt.Now().Sub(start)}, nil
}

// latestFiles returns the newest files snapshot of machine, or nil if it
// has none.
func latestFiles(ctx context.Context, r *repo.Repository, machine string) (*repo.Snapshot, error) {
	heads, err := r.Heads(ctx)
	if err != nil {
		return nil, err
	}
	var newest *repo.Head
	for i := range heads {
		h := &heads[i]
		if h.Kind == repo.KindFiles && h.Machine == machine && (newest == nil || h.Time.After(newest.Time)) {
			newest = h
		}
	}
	if newest == nil {
		return nil, nil
	}
	return r.LoadSnapshot(ctx, newest.ID)
}

func firstProblem(ps []repo.FileProblem) string {
	if len(ps) == 0 {
		return "no reason known"
	}
	return DisplayPath(ps[0].Path) + ": " + ps[0].Reason
}

// problem records a file that could not be backed up.
func (b *backup) problem(path string, err error) {
	b.record(path, "not backed up", plainErr(err).Error())
}

// record names a file that was not backed up whole (what), and why.
func (b *backup) record(path, what, reason string) {
	b.mu.Lock()
	b.probs = append(b.probs, repo.FileProblem{Path: path, Reason: reason})
	b.mu.Unlock()
	b.opt.Progress.Note(progress.Warning, fmt.Sprintf("%s: %s: %s", what, DisplayPath(path), reason))
}

// plainErr strips the path from an *fs.PathError, which the caller names.
func plainErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// addPath adds path p (absolute, clean) to the tree under root: its
// ancestors as folders holding only what leads to it, then p itself. The
// ancestors get no security descriptor: a replay makes those missing and
// sets no metadata on them.
func (b *backup) addPath(ctx context.Context, root *item, prev *prevEntry, p string) error {
	parts := splitPath(p)
	if len(parts) == 0 {
		return errors.New("back up folders, not the root of the filesystem")
	}
	dir := root
	cur := ""
	for k, name := range parts {
		cur = joinPath(cur, name)
		prev = prev.child(ctx, name)
		if k == len(parts)-1 {
			it, err := b.addEntry(ctx, dir, prev, cur, name, true)
			if err == nil && it == nil {
				err = fmt.Errorf("backing up %s: it is gone", p)
			}
			if err == nil {
				b.tops = append(b.tops, it)
			}
			return err
		}
		var next *item
		for _, c := range dir.sub {
			if c.Name == name {
				next = c
			}
		}
		if next == nil {
			fi, err := os.Lstat(osPath(cur))
			if err != nil {
				return fmt.Errorf("backing up %s: %w", p, err)
			}
			n, err := nodeOf(osPath(cur), name, fi)
			if err != nil {
				return fmt.Errorf("backing up %s: %w", p, err)
			}
			next = &item{Node: n}
			b.count(&next.Node)
			dir.sub = append(dir.sub, next)
		}
		if next.Type != repo.NodeDir {
			return fmt.Errorf("backing up %s: %s is not a folder", p, osPath(cur))
		}
		dir = next
	}
	return nil
}

func (b *backup) count(n *repo.Node) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch n.Type {
	case repo.NodeFile:
		b.stats.Files++
		b.stats.Bytes += int64(n.Size)
	case repo.NodeDir:
		b.stats.Dirs++
	default:
		b.stats.Others++
	}
	b.opt.Progress.Add(progress.Items, 1)
}

// addEntry adds the entry at path (name in dir), and for a folder its
// content, to dir, and returns it (nil if it was left out or is gone);
// prev is its counterpart in the parent snapshot, or nil. top says it is
// one of the paths asked for: excludes do not apply to it.
func (b *backup) addEntry(ctx context.Context, dir *item, prev *prevEntry, path, name string, top bool) (*item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !top && b.ex.Match(path) {
		return nil, nil
	}
	fi, err := os.Lstat(osPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // gone since the folder was listed
	}
	if err != nil {
		b.problem(path, err)
		return nil, nil
	}
	n, err := b.node(path, name, fi)
	if err != nil {
		b.problem(path, err)
		return nil, nil
	}
	it := &item{Node: n}
	dir.sub = append(dir.sub, it)
	b.count(&it.Node)
	switch n.Type {
	case repo.NodeDir:
		return it, b.addDir(ctx, it, prev, path)
	case repo.NodeFile:
		if pn := prev.node(); pn != nil && unchanged(pn, &it.Node) && b.allKnown(pn.Content) {
			it.Content = pn.Content
			return it, nil
		}
		return it, pipeline.Send(ctx, b.jobs, fileJob{it: it, path: path})
	}
	return it, nil
}

// node returns the node of the entry at path (fi its Lstat result) with,
// on Windows, its security descriptor. A descriptor that cannot be read
// does not cost the entry its content: it is backed up without one, and
// named among the problems, since a replay then leaves it the
// permissions it finds (its folder's, on a file it makes), which may open
// it to more people than before.
func (b *backup) node(path, name string, fi fs.FileInfo) (repo.Node, error) {
	n, err := nodeOf(osPath(path), name, fi)
	if err != nil {
		return n, err
	}
	if securityHook != nil {
		err = securityHook(osPath(path))
	}
	if err == nil {
		n.Security, err = readSecurity(osPath(path), b.sacl)
	}
	if err != nil {
		b.record(path, "backed up without its permissions", "its security descriptor (owner and permissions) could not be read: "+
			plainErr(err).Error()+"; a replay leaves it the permissions it finds (its folder's, on a file it makes)")
	}
	return n, nil
}

// securityHook, when set by a test, fails the reading of an entry's
// security descriptor as Windows does for a user without READ_CONTROL.
var securityHook func(path string) error

// readHook, when set by a test, runs after a file is read and before it
// is checked for changes: the test changes it there.
var readHook func(path string)

// openDirHook, when set by a test, fails the listing of a folder as a
// system would (root may list any folder).
var openDirHook func(path string) error

// addDir lists folder it at path and adds its entries.
func (b *backup) addDir(ctx context.Context, it *item, prev *prevEntry, path string) error {
	var f *os.File
	var err error
	if openDirHook != nil {
		err = openDirHook(osPath(path))
	}
	if err == nil {
		f, err = os.Open(osPath(path))
	}
	if err != nil {
		b.unreadable(it, path, err)
		return nil
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		b.unreadable(it, path, err)
		return nil
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := b.addEntry(ctx, it, prev.child(ctx, name), joinPath(path, name), name, false); err != nil {
			return err
		}
	}
	return nil
}

// prevEntry is an entry of the parent snapshot, its folder's tree read
// when first asked for. A nil *prevEntry is an entry the parent lacks.
type prevEntry struct {
	b    *backup
	n    *repo.Node
	tree *repo.Tree
	err  error
}

func (p *prevEntry) node() *repo.Node {
	if p == nil {
		return nil
	}
	return p.n
}

// child returns the entry name of folder p, or nil.
func (p *prevEntry) child(ctx context.Context, name string) *prevEntry {
	if p == nil || p.n.Type != repo.NodeDir || p.n.Subtree == nil || p.err != nil {
		return nil
	}
	if p.tree == nil {
		p.tree, p.err = p.b.r.LoadTree(ctx, *p.n.Subtree)
		if p.err != nil {
			p.b.opt.Progress.Note(progress.Warning, fmt.Sprintf("a folder of the previous snapshot cannot be read (%v); its files are read again", p.err))
			return nil
		}
	}
	ns := p.tree.Nodes
	k := sort.Search(len(ns), func(i int) bool { return ns[i].Name >= name })
	if k == len(ns) || ns[k].Name != name {
		return nil
	}
	return &prevEntry{b: p.b, n: &ns[k]}
}

// unreadable marks folder or file it as not backed up: a replay leaves
// what is there alone.
func (b *backup) unreadable(it *item, path string, err error) {
	it.Unread = true
	it.Content = nil
	it.sub = nil
	b.mu.Lock()
	b.stats.Unreadable++
	b.mu.Unlock()
	b.problem(path, err)
}

// unchanged reports whether file n is the same as the parent snapshot's
// pn by its metadata: size, modification and change times, inode.
func unchanged(pn, n *repo.Node) bool {
	return pn.Type == repo.NodeFile && !pn.Unread && pn.Size == n.Size && pn.MTime == n.MTime &&
		pn.CTime == n.CTime && pn.Inode == n.Inode && pn.Dev == n.Dev
}

// allKnown reports whether every blob of a parent's file is still
// stored: in the pack the parent names (packs never change), or where the
// index lists it. A blob found in neither may be gone, and the file is
// read again.
func (b *backup) allKnown(bs []repo.Blob) bool {
	for _, x := range bs {
		if !b.idx.HasPack(x.Pack) {
			if _, ok := b.idx.Lookup(x.ID); !ok {
				return false
			}
		}
	}
	return true
}

// chunkFiles reads, cuts and stores the files sent to b.jobs.
func (b *backup) chunkFiles(ctx context.Context) error {
	var lz lz4.Compressor
	ch := chunker.New(nil, Pol)
	buf := make([]byte, MaxBlob)
	var enc []byte
	for j := range b.jobs {
		if err := b.chunkFile(ctx, j, ch, &lz, buf, &enc); err != nil {
			return err
		}
	}
	return nil
}

// chunkFile reads file j and stores its new blobs. A file that changes
// while it is read is read again once; if it changes again, what was read
// is kept and the file named as changed during the backup.
func (b *backup) chunkFile(ctx context.Context, j fileJob, ch *chunker.Chunker, lz *lz4.Compressor, buf []byte, enc *[]byte) error {
	for try := 0; ; try++ {
		content, size, changed, err := b.readFile(ctx, j, ch, lz, buf, enc)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se saveError
		if errors.As(err, &se) {
			return se.err
		}
		if err != nil {
			b.unreadable(j.it, j.path, err)
			return nil
		}
		if changed && try == 0 {
			continue
		}
		j.it.Content = content
		j.it.Size = size
		if changed {
			b.mu.Lock()
			b.stats.Changed++
			b.mu.Unlock()
			b.problem(j.path, errors.New("changed while it was read; the content stored is one moment's"))
		}
		return nil
	}
}

// saveError is an error storing into the repository, which ends the run
// (an unreadable file does not).
type saveError struct{ err error }

func (e saveError) Error() string { return e.err.Error() }

func (b *backup) readFile(ctx context.Context, j fileJob, ch *chunker.Chunker, lz *lz4.Compressor, buf []byte, enc *[]byte) (content []repo.Blob, size uint64, changed bool, err error) {
	f, err := openRead(osPath(j.path))
	if err != nil {
		return nil, 0, false, err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, 0, false, err
	}
	ch.Reset(f, Pol)
	for {
		c, err := ch.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, false, err
		}
		if ctx.Err() != nil {
			return nil, 0, false, ctx.Err()
		}
		id := chunk.Hash(c.Data)
		size += uint64(c.Length)
		b.opt.Progress.Add(progress.Read, int64(c.Length))
		b.mu.Lock()
		b.stats.ReadBytes += int64(c.Length)
		b.mu.Unlock()
		content = append(content, repo.Blob{ID: id, Size: uint32(c.Length)})
		if _, ok := b.idx.Lookup(id); ok {
			continue
		}
		if _, loaded := b.known.LoadOrStore(id, struct{}{}); loaded {
			continue
		}
		*enc = chunk.Encode(lz, (*enc)[:0], c.Data)
		if err := b.saver.Save(ctx, pack.Data, id, *enc); err != nil {
			return nil, 0, false, saveError{err}
		}
		b.opt.Progress.Add(progress.Stored, int64(len(*enc)))
		b.mu.Lock()
		b.stats.NewBytes += int64(c.Length)
		b.stats.NewBlobs++
		b.mu.Unlock()
	}
	if readHook != nil {
		readHook(osPath(j.path))
	}
	after, err := f.Stat()
	if err != nil {
		return nil, 0, false, err
	}
	changed = after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) || int64(size) != after.Size()
	return content, size, changed, nil
}

// saveTree saves the trees of folder it and below, children first, and
// returns its blob. File content gets its places from the index, now that
// every blob is in a saved pack.
func (b *backup) saveTree(ctx context.Context, ts *repo.TreeSaver, it *item) (repo.Blob, error) {
	sort.Slice(it.sub, func(i, j int) bool { return it.sub[i].Name < it.sub[j].Name })
	t := &repo.Tree{Nodes: make([]repo.Node, 0, len(it.sub))}
	for _, c := range it.sub {
		n := c.Node
		if n.Type == repo.NodeDir {
			sb, err := b.saveTree(ctx, ts, c)
			if err != nil {
				return repo.Blob{}, err
			}
			n.Subtree = &sb
		}
		if len(n.Content) > 0 {
			n.Content = append([]repo.Blob(nil), n.Content...)
			for k := range n.Content {
				x := &n.Content[k]
				if x.Len > 0 && b.idx.HasPack(x.Pack) {
					continue // a parent's place, still stored
				}
				l, ok := b.idx.Lookup(x.ID)
				if !ok || l.Pack < 0 {
					return repo.Blob{}, fmt.Errorf("blob %s of %s was not stored (internal error)", x.ID.Short(), n.Name)
				}
				x.Pack, x.Off, x.Len = b.idx.Pack(l.Pack), l.Off, l.Len
			}
		}
		t.Nodes = append(t.Nodes, n)
	}
	c := &it.sub
	*c = nil // the tree is written; its items are no longer needed
	return ts.Save(ctx, t)
}

// splitPath splits an absolute path into its components: on Windows the
// volume ("C:") is the first, its drive letter in upper case (Windows
// ignores the case, and c:\Users and C:\Users must be one tree path).
func splitPath(p string) []string {
	vol := filepath.VolumeName(p)
	rest := strings.Trim(filepath.ToSlash(p[len(vol):]), "/")
	var parts []string
	if isDrive(vol) {
		parts = append(parts, strings.ToUpper(vol))
	} else if vol != "" {
		parts = append(parts, vol)
	}
	if rest != "" {
		parts = append(parts, strings.Split(rest, "/")...)
	}
	return parts
}

// joinPath joins a tree path (components separated by '/', a Windows
// volume first) and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return "/" + name
	}
	return dir + "/" + name
}
