// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/store"
)

// Snapshot kinds.
const (
	KindImage = "image" // whole disks: partition tables and partitions' used blocks
	KindFiles = "files" // user files: a tree of folders and files
)

// SnapshotVersion is the snapshot format this package writes and the newest
// it reads.
const SnapshotVersion = 1

// maxSnapshotSize bounds what a reader loads: an image of 16 TB in 1 MiB
// chunks is about 1.5 GB of manifest... far beyond a small shop's disks;
// 512 MiB covers some 5 TB of distinct chunks.
const maxSnapshotSize = 512 << 20

// Snapshot is one backup of one machine: a disk image or a file tree. It is
// stored as JSON under snapshots/<id>, where id is the SHA-256 of the file's
// bytes.
type Snapshot struct {
	Version int       `json:"version"`
	Kind    string    `json:"kind"`
	Machine string    `json:"machine"`        // the machine's name in the repository
	Time    time.Time `json:"time"`           // when the backup started
	Host    string    `json:"host,omitempty"` // the host name of the system that wrote it
	Note    string    `json:"note,omitempty"`
	// Duration is how long the backup took.
	Duration Duration `json:"duration,omitempty"`
	// Image is set when Kind is KindImage.
	Image *Image `json:"image,omitempty"`
	// Files is set when Kind is KindFiles.
	Files *Files `json:"files,omitempty"`

	id ID // set when stored or loaded
}

// ID names a snapshot: the SHA-256 of its stored bytes.
type ID = chunk.ID

// ID returns the snapshot's ID once it is saved or loaded.
func (s *Snapshot) ID() ID { return s.id }

// Duration is a time.Duration that reads as seconds in JSON.
type Duration time.Duration

// MarshalJSON writes seconds with millisecond precision.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", time.Duration(d).Seconds())), nil
}

// UnmarshalJSON reads seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Files is the content of a file snapshot: the root of a tree of folders
// whose nodes are stored as chunks. Its layout is defined with the files
// backup; prune and check walk it through Refs.
type Files struct {
	Tree  chunk.ID `json:"tree"`            // the root folder's node list
	Paths []string `json:"paths,omitempty"` // what was backed up
}

// Refs calls fn for every chunk the snapshot needs, possibly more than once
// for the same chunk.
func (s *Snapshot) Refs(fn func(chunk.ID)) {
	if s.Image != nil {
		s.Image.refs(fn)
	}
	if s.Files != nil {
		fn(s.Files.Tree)
	}
}

// validMachine is the machine-name rule: it becomes part of what people type
// and of file names on a NAS.
func validMachine(m string) error {
	if m == "" || len(m) > 64 {
		return fmt.Errorf("machine name %q: want 1 to 64 characters", m)
	}
	for _, r := range m {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("machine name %q: use letters, digits, '-', '_' and '.'", m)
		}
	}
	return nil
}

// ValidMachine checks a machine name.
func ValidMachine(m string) error { return validMachine(m) }

// check validates what a reader relies on.
func (s *Snapshot) check(chunkSize, maxChunk int) error {
	if s.Version < 1 || s.Version > SnapshotVersion {
		return fmt.Errorf("snapshot format version %d is not one this rewind reads (1 to %d)", s.Version, SnapshotVersion)
	}
	if err := validMachine(s.Machine); err != nil {
		return err
	}
	if s.Time.IsZero() {
		return errors.New("snapshot has no time")
	}
	switch s.Kind {
	case KindImage:
		if s.Image == nil || s.Files != nil {
			return errors.New("image snapshot without an image")
		}
		return s.Image.check(maxChunk)
	case KindFiles:
		if s.Files == nil || s.Image != nil {
			return errors.New("files snapshot without a tree")
		}
		return nil
	default:
		return fmt.Errorf("unknown snapshot kind %q: a newer rewind wrote it", s.Kind)
	}
}

// SaveSnapshot stores s and sets its ID. Call it only after every chunk s
// names is stored: the snapshot is what makes a backup visible.
func (r *Repository) SaveSnapshot(ctx context.Context, s *Snapshot) (ID, error) {
	s.Version = SnapshotVersion
	if err := s.check(r.cfg.ChunkSize, r.cfg.MaxChunkSize); err != nil {
		return ID{}, fmt.Errorf("refusing to store a bad snapshot: %w", err)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return ID{}, err
	}
	data = append(data, '\n')
	id := ID(sha256.Sum256(data))
	if err := r.s.Save(ctx, snapshotsDir+"/"+id.String(), data); err != nil {
		return ID{}, fmt.Errorf("storing snapshot %s: %w", ShortID(id), err)
	}
	s.id = id
	return id, nil
}

// ParseSnapshot parses and checks the stored bytes of snapshot id.
func ParseSnapshot(data []byte, id ID, maxChunk int) (*Snapshot, error) {
	if got := ID(sha256.Sum256(data)); got != id {
		return nil, fmt.Errorf("snapshot %s is damaged: its content hashes to %s", ShortID(id), ShortID(got))
	}
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("snapshot %s is damaged: %v", ShortID(id), err)
	}
	if err := s.check(0, maxChunk); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ShortID(id), err)
	}
	s.id = id
	return &s, nil
}

// LoadSnapshot reads and checks snapshot id.
func (r *Repository) LoadSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	name := snapshotsDir + "/" + id.String()
	fi, err := r.s.Stat(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ShortID(id), err)
	}
	if fi.Size > maxSnapshotSize {
		return nil, fmt.Errorf("snapshot %s is %d bytes, more than the %d a snapshot may have", ShortID(id), fi.Size, maxSnapshotSize)
	}
	data, err := r.s.ReadFile(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ShortID(id), err)
	}
	return ParseSnapshot(data, id, r.cfg.MaxChunkSize)
}

// SnapshotIDs lists the stored snapshots' IDs. Files in snapshots/ that are
// not snapshots go to other, when it is not nil.
func (r *Repository) SnapshotIDs(ctx context.Context, other func(name string, fi store.Info) error) ([]ID, error) {
	var ids []ID
	err := r.s.List(ctx, snapshotsDir, func(fi store.Info) error {
		id, err := chunk.ParseID(fi.Name)
		if err != nil {
			if other != nil {
				return other(snapshotsDir+"/"+fi.Name, fi)
			}
			return nil
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing snapshots in %s: %w", r.s.Location(), err)
	}
	return ids, nil
}

// Snapshots loads every snapshot, oldest first. A snapshot that cannot be
// read is reported to bad (which may be nil to fail instead) and skipped;
// one removed while listing is skipped silently.
func (r *Repository) Snapshots(ctx context.Context, bad func(ID, error)) ([]*Snapshot, error) {
	ids, err := r.SnapshotIDs(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []*Snapshot
	for _, id := range ids {
		s, err := r.LoadSnapshot(ctx, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			if bad == nil || ctx.Err() != nil {
				return nil, err
			}
			bad(id, err)
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// FindSnapshot returns the snapshot whose ID starts with prefix (at least 4
// hex digits), or "latest" of a machine and kind.
func (r *Repository) FindSnapshot(ctx context.Context, machine, kind, ref string) (*Snapshot, error) {
	snaps, err := r.Snapshots(ctx, func(ID, error) {})
	if err != nil {
		return nil, err
	}
	var match []*Snapshot
	for _, s := range snaps {
		if machine != "" && s.Machine != machine || kind != "" && s.Kind != kind {
			continue
		}
		if ref == "" || ref == "latest" || strings.HasPrefix(s.id.String(), strings.ToLower(ref)) {
			match = append(match, s)
		}
	}
	what := kind
	if what == "" {
		what = "snapshot"
	}
	switch {
	case len(match) == 0 && (ref == "" || ref == "latest"):
		return nil, fmt.Errorf("machine %q has no %s in %s; 'rewind snapshots' lists what there is", machine, what, r.s.Location())
	case len(match) == 0:
		return nil, fmt.Errorf("no %s %q for machine %q in %s; 'rewind snapshots' lists what there is", what, ref, machine, r.s.Location())
	case ref == "" || ref == "latest":
		return match[len(match)-1], nil
	case len(ref) < 4:
		return nil, fmt.Errorf("%s id %q is too short: give at least 4 hex digits", what, ref)
	case len(match) > 1:
		return nil, fmt.Errorf("%s id %q matches %d snapshots: give more digits", what, ref, len(match))
	}
	return match[0], nil
}

// RemoveSnapshotID deletes a snapshot file, readable or not.
func (r *Repository) RemoveSnapshotID(ctx context.Context, id ID) error {
	err := r.s.Remove(ctx, snapshotsDir+"/"+id.String())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing snapshot %s: %w", ShortID(id), err)
	}
	return nil
}

// ShortID formats an ID as people see it.
func ShortID(id ID) string { return hex.EncodeToString(id[:4]) }
