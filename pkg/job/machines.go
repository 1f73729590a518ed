// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"sort"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// RepoMachine is a machine in a repository with its backups, newest first.
type RepoMachine struct {
	Name   string
	Images []repo.Head
	Files  []repo.Head
	// Hardware is what the newest image recorded (nil: nothing, or it could
	// not be read); Score is how well it matches the machine asked about.
	Hardware *repo.Hardware
	Score    int
}

// Machines lists the repository's machines by name, each with its images
// and file snapshots, and scores each against the hardware here (recorded
// in the head of each machine's newest image). Snapshots whose heads cannot
// be read are left out: a restore names its image by ID then.
func Machines(ctx context.Context, r *repo.Repository, here repo.Hardware, hereSerials []string) ([]RepoMachine, error) {
	heads, err := r.Heads(ctx)
	if err != nil {
		return nil, err
	}
	by := map[string]*RepoMachine{}
	for _, h := range heads {
		if !h.Known() {
			continue
		}
		m := by[h.Machine]
		if m == nil {
			m = &RepoMachine{Name: h.Machine}
			by[h.Machine] = m
		}
		switch h.Kind {
		case repo.KindImage:
			m.Images = append(m.Images, h)
		case repo.KindFiles:
			m.Files = append(m.Files, h)
		}
	}
	out := make([]RepoMachine, 0, len(by))
	for _, m := range by {
		newestFirst(m.Images)
		newestFirst(m.Files)
		if len(m.Images) > 0 && m.Images[0].Hardware != nil {
			m.Hardware = m.Images[0].Hardware
			m.Score = Score(m.Hardware, here, hereSerials)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func newestFirst(hs []repo.Head) {
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].Time.After(hs[j].Time) })
}

// FilesAfter returns the file snapshots of m taken after the image img,
// newest first.
func (m *RepoMachine) FilesAfter(img repo.Head) []repo.Head {
	var out []repo.Head
	for _, f := range m.Files {
		if f.Time.After(img.Time) {
			out = append(out, f)
		}
	}
	return out
}
