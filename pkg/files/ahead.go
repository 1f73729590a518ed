// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"context"
	"io/fs"
	"path/filepath"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// aheadWindow is how many subfolders of one folder a replay reads ahead
// of its walk, and aheadReads how many such reads run at once in all.
// The walk goes one folder at a time, and on a cold disk each folder costs
// reads it would wait for one by one (its Lstat, its listing, its tree).
const (
	aheadWindow = 8
	aheadReads  = 8
)

// listing is what the walk needs of a folder, read ahead of it: the
// target's entry (Lstat), its names when it is a folder, and the
// snapshot's tree of it. done is closed once it is read.
type listing struct {
	done   chan struct{}
	fi     fs.FileInfo
	exists bool
	err    error // of the Lstat
	names  []string
	nerr   error
	tree   *repo.Tree
	terr   error
}

// wait returns l once it is read.
func (l *listing) wait(ctx context.Context) (*listing, error) {
	select {
	case <-l.done:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// folderAhead reads the subfolders of one folder ahead of the walk, in
// the order the walk takes them, at most aheadWindow of them not yet
// taken. Only the walk's goroutine calls take.
type folderAhead struct {
	rp    *replay
	ctx   context.Context
	nodes []repo.Node
	to    string
	dirs  []int      // the positions in nodes of the folders
	ls    []*listing // started, by position in dirs
	taken int
}

// readAhead starts reading the subfolders among nodes, the entries of
// target folder to.
func (rp *replay) readAhead(ctx context.Context, nodes []repo.Node, to string) *folderAhead {
	a := &folderAhead{rp: rp, ctx: ctx, nodes: nodes, to: to}
	for k := range nodes {
		if nodes[k].Type == repo.NodeDir && nodes[k].Subtree != nil && !nodes[k].Unread {
			a.dirs = append(a.dirs, k)
		}
	}
	a.start()
	return a
}

func (a *folderAhead) start() {
	for len(a.ls) < len(a.dirs) && len(a.ls) < a.taken+aheadWindow {
		n := &a.nodes[a.dirs[len(a.ls)]]
		a.ls = append(a.ls, a.rp.list(a.ctx, n, filepath.Join(a.to, n.Name)))
	}
}

// take returns the listing of entry k of the folder, when it is a folder,
// or nil; k must grow from call to call.
func (a *folderAhead) take(k int) *listing {
	if a.taken == len(a.dirs) || a.dirs[a.taken] != k {
		return nil
	}
	l := a.ls[a.taken]
	a.ls[a.taken] = nil
	a.taken++
	a.start()
	return l
}

// list reads folder n, whose target is to, in the background.
func (rp *replay) list(ctx context.Context, n *repo.Node, to string) *listing {
	l := &listing{done: make(chan struct{})}
	rp.g.Go(func() error {
		defer close(l.done)
		select {
		case rp.ahead <- struct{}{}:
		case <-ctx.Done():
			l.err = ctx.Err()
			return nil
		}
		defer func() { <-rp.ahead }()
		l.fi, l.exists, l.err = lstat(to)
		if l.err == nil && l.exists && l.fi.IsDir() {
			l.names, l.nerr = readNames(to)
		}
		l.tree, l.terr = rp.r.LoadTree(ctx, *n.Subtree)
		return nil
	})
	return l
}
