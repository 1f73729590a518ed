// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"context"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// Change is one difference between two files snapshots.
type Change struct {
	What string `json:"what"` // added, changed, deleted
	Path string `json:"path"` // tree path: /home/jane/x, /C:/Users/jane/x
	Type string `json:"type"`
	Size int64  `json:"size"` // the new size; for deleted, the old
}

// Diff calls fn with what changed from the tree at a to the tree at b, in
// path order. A folder added or deleted is one change with its size the
// bytes of its files; a folder whose tree blob is the same in both is not
// read. Metadata changes count as changed.
func Diff(ctx context.Context, r *repo.Repository, a, b repo.Blob, fn func(Change) error) error {
	return diffTrees(ctx, r, &a, &b, "", fn)
}

func diffTrees(ctx context.Context, r *repo.Repository, a, b *repo.Blob, dir string, fn func(Change) error) error {
	if a.ID == b.ID {
		return nil
	}
	ta, err := r.LoadTree(ctx, *a)
	if err != nil {
		return err
	}
	tb, err := r.LoadTree(ctx, *b)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(ta.Nodes) || j < len(tb.Nodes) {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case j == len(tb.Nodes) || i < len(ta.Nodes) && ta.Nodes[i].Name < tb.Nodes[j].Name:
			n := &ta.Nodes[i]
			size, err := treeSize(ctx, r, n)
			if err != nil {
				return err
			}
			if err := fn(Change{"deleted", dir + "/" + n.Name, TypeName(n.Type), size}); err != nil {
				return err
			}
			i++
		case i == len(ta.Nodes) || tb.Nodes[j].Name < ta.Nodes[i].Name:
			n := &tb.Nodes[j]
			size, err := treeSize(ctx, r, n)
			if err != nil {
				return err
			}
			if err := fn(Change{"added", dir + "/" + n.Name, TypeName(n.Type), size}); err != nil {
				return err
			}
			j++
		default:
			x, y := &ta.Nodes[i], &tb.Nodes[j]
			p := dir + "/" + x.Name
			switch {
			case x.Type == repo.NodeDir && y.Type == repo.NodeDir:
				if err := diffTrees(ctx, r, x.Subtree, y.Subtree, p, fn); err != nil {
					return err
				}
			case !sameNode(x, y):
				if err := fn(Change{"changed", p, TypeName(y.Type), int64(y.Size)}); err != nil {
					return err
				}
			}
			i++
			j++
		}
	}
	return nil
}

// sameNode reports whether two entries of the same name are equal in
// content and the metadata a replay sets.
func sameNode(x, y *repo.Node) bool {
	if x.Type != y.Type || x.Size != y.Size || x.MTime != y.MTime || x.Mode != y.Mode || x.UID != y.UID || x.GID != y.GID ||
		x.Target != y.Target || x.Unread != y.Unread || len(x.Content) != len(y.Content) || len(x.Xattrs) != len(y.Xattrs) {
		return false
	}
	for k := range x.Content {
		if x.Content[k].ID != y.Content[k].ID {
			return false
		}
	}
	for k := range x.Xattrs {
		if x.Xattrs[k].Name != y.Xattrs[k].Name || string(x.Xattrs[k].Value) != string(y.Xattrs[k].Value) {
			return false
		}
	}
	return true
}

// treeSize returns the bytes of n's files: its own size, or for a folder
// those below it.
func treeSize(ctx context.Context, r *repo.Repository, n *repo.Node) (int64, error) {
	if n.Type != repo.NodeDir {
		return int64(n.Size), nil
	}
	t, err := r.LoadTree(ctx, *n.Subtree)
	if err != nil {
		return 0, err
	}
	var sum int64
	for k := range t.Nodes {
		s, err := treeSize(ctx, r, &t.Nodes[k])
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum, nil
}

// TypeName names an entry type as listings and diffs say it.
func TypeName(t byte) string {
	switch t {
	case repo.NodeFile:
		return "file"
	case repo.NodeDir:
		return "dir"
	case repo.NodeSymlink:
		return "symlink"
	case repo.NodeDevice:
		return "device"
	default:
		return "reparse"
	}
}
