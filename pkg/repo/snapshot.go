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
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

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

// MaxSnapshotSize bounds a snapshot file: readers refuse a larger one by
// its size, before reading any of it, and writers refuse to store one.
//
// The bound comes from memory, not from disk sizes: every command must run
// in 256 MiB (the boot environment runs from RAM). Each chunk an image
// lists costs about 85 bytes of JSON ({"i":123456,"id":"<64 hex>"},) and
// 48 bytes decoded, and decoding holds the file, the list as it grows
// (up to 2.25 times its final size while it is copied) and the garbage of
// decoding at once: a 64 MiB manifest of 780,000 chunks measured 204 MiB
// peak RSS with the collector held to 200 MiB, too close once a restore's
// buffers and an SMB connection are added. 48 MiB holds about 590,000
// chunks: 576 GiB of used data at the default 1 MiB chunk size, 36 GiB at
// the smallest (64 KiB). A full 16 TB disk would need 15 million entries at
// 1 MiB (1.3 GB of JSON, 730 MB decoded) and 245 million at 64 KiB: no
// manifest of that form fits the boot environment's memory, so such an
// image is refused when it is stored rather than stored unrestorable.
const MaxSnapshotSize = 48 << 20

// ErrSnapshotDamaged is wrapped by the errors of a snapshot that cannot be
// used: too large, not matching its id, not parsing, or invalid.
var ErrSnapshotDamaged = errors.New("the snapshot is damaged")

// damaged marks an error as ErrSnapshotDamaged, keeping its message.
type damaged struct{ err error }

func (d damaged) Error() string        { return d.err.Error() }
func (d damaged) Unwrap() error        { return d.err }
func (d damaged) Is(target error) bool { return target == ErrSnapshotDamaged }

func damagedf(format string, args ...any) error { return damaged{fmt.Errorf(format, args...)} }

// ErrSnapshotTooLarge is wrapped by SaveSnapshot's error for a snapshot
// larger than MaxSnapshotSize.
var ErrSnapshotTooLarge = errors.New("snapshot too large")

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
	// Hardware is the machine the capture ran on, so that a restore can
	// find the machine's images by its hardware (images written before it
	// existed leave it nil). It comes before the image, within the head.
	Hardware *Hardware `json:"hardware,omitempty"`
	// Image is set when Kind is KindImage.
	Image *Image `json:"image,omitempty"`
	// Files is set when Kind is KindFiles.
	Files *Files `json:"files,omitempty"`

	id ID // set when stored or loaded
}

// Hardware identifies the machine a capture ran on: its firmware's (DMI)
// vendor, product, serial number and system UUID, and its network cards'
// MAC addresses. The disks' serials are in the image's disks.
type Hardware struct {
	Vendor string   `json:"vendor,omitempty"`
	Model  string   `json:"model,omitempty"`
	Serial string   `json:"serial,omitempty"`
	UUID   string   `json:"uuid,omitempty"`
	MACs   []string `json:"macs,omitempty"`
	// Disks are the serial numbers of the disks captured.
	Disks []string `json:"disks,omitempty"`
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

// Files is the content of a files snapshot: the root of a tree of folders
// whose nodes are stored as tree blobs (tree.go), and what was backed up.
// Prune and check walk it through WalkFiles.
type Files struct {
	Tree     chunk.ID `json:"tree"`      // the root folder's tree blob
	TreePack chunk.ID `json:"tree_pack"` // and its place
	TreeOff  uint32   `json:"tree_o"`
	TreeLen  uint32   `json:"tree_n"`
	TreeSize uint32   `json:"tree_size"` // its plaintext's length
	// Paths are the paths backed up, as the system wrote them (C:\Users,
	// /home); the tree holds them from the root down.
	Paths []string `json:"paths"`
	// Excludes are the patterns left out: a replay never deletes what
	// they match, since it was not deleted, only not backed up.
	Excludes []string `json:"excludes,omitempty"`
	// Parent is the snapshot this one was compared with, if any.
	Parent string      `json:"parent,omitempty"`
	Stats  *FilesStats `json:"stats,omitempty"`
	// Problems name files that could not be backed up, and why (the first
	// MaxFileProblems of them).
	Problems []FileProblem `json:"problems,omitempty"`
}

// FilesStats counts what a files backup found and stored.
type FilesStats struct {
	Files      int64 `json:"files"`
	Dirs       int64 `json:"dirs"`
	Others     int64 `json:"others"`     // symlinks, devices, reparse points
	Bytes      int64 `json:"bytes"`      // of the files' content
	ReadBytes  int64 `json:"read_bytes"` // content read (files that changed)
	NewBytes   int64 `json:"new_bytes"`  // plaintext of the blobs stored anew
	NewBlobs   int64 `json:"new_blobs"`  // blobs stored anew
	Unreadable int64 `json:"unreadable"` // entries not backed up; Problems names them
	Changed    int64 `json:"changed"`    // files that changed while being read
}

// FileProblem is a file a backup could not read, or read while it changed.
type FileProblem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// MaxFileProblems bounds the problems a snapshot names.
const MaxFileProblems = 1000

// Root returns the blob of the root folder's tree.
func (f *Files) Root() Blob {
	return Blob{ID: f.Tree, Pack: f.TreePack, Off: f.TreeOff, Len: f.TreeLen, Size: f.TreeSize}
}

// SetRoot records b as the root folder's tree.
func (f *Files) SetRoot(b Blob) {
	f.Tree, f.TreePack, f.TreeOff, f.TreeLen, f.TreeSize = b.ID, b.Pack, b.Off, b.Len, b.Size
}

// Refs calls fn for every chunk the snapshot's manifest names, possibly
// more than once for the same chunk: of a files snapshot, that is its root
// tree; Repository.Refs walks the tree.
func (s *Snapshot) Refs(fn func(chunk.ID)) {
	if s.Image != nil {
		s.Image.refs(fn)
	}
	if s.Files != nil {
		fn(s.Files.Tree)
	}
}

// Refs calls fn with every blob snapshot s needs: an image's chunks, or
// each tree of a files snapshot and the blobs its entries name (reading the
// trees). fn returns whether the blob is new to it: a tree seen before is
// not walked again.
func (r *Repository) Refs(ctx context.Context, s *Snapshot, fn func(chunk.ID) bool) error {
	if s.Files != nil {
		return r.WalkFiles(ctx, s.Files, fn)
	}
	s.Refs(func(id chunk.ID) { fn(id) })
	return nil
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
// Without chunks, the image's chunk lists are not loaded yet and not
// checked.
func (s *Snapshot) check(maxChunk int, chunks bool) error {
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
		if err := s.Image.check(maxChunk, chunks); err != nil {
			return err
		}
		if !chunks {
			return nil
		}
		return s.Image.checkZeroRefs()
	case KindFiles:
		if s.Files == nil || s.Image != nil {
			return errors.New("files snapshot without a tree")
		}
		f := s.Files
		if f.TreePack == (chunk.ID{}) || f.TreeLen < 9 || int(f.TreeSize) > maxChunk || len(f.Problems) > MaxFileProblems {
			return errors.New("files snapshot: its root tree has no valid place")
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
	if s.Image != nil {
		s.Image.Lists = nil
	}
	if err := s.check(r.cfg.MaxChunkSize, true); err != nil {
		return ID{}, fmt.Errorf("refusing to store a bad snapshot: %w", err)
	}
	stored := s
	if r.Packed() && s.Image != nil {
		// The chunk lists go into packs; the JSON names them.
		if err := r.saveLists(ctx, s.Image); err != nil {
			return ID{}, err
		}
		stored = s.withoutChunks()
	}
	data, err := json.Marshal(stored)
	if err != nil {
		return ID{}, err
	}
	data = append(data, '\n')
	if len(data) > MaxSnapshotSize {
		return ID{}, fmt.Errorf("the snapshot of %s would be %d bytes, more than the %d a snapshot may have so that a restore fits in the boot environment's memory; image fewer disks at a time, or use a repository with a larger chunk size: %w",
			s.Machine, len(data), MaxSnapshotSize, ErrSnapshotTooLarge)
	}
	id := ID(sha256.Sum256(data))
	if err := r.s.Save(ctx, snapshotsDir+"/"+id.String(), data); err != nil {
		return ID{}, fmt.Errorf("storing snapshot %s: %w", ShortID(id), err)
	}
	s.id = id
	return id, nil
}

// ParseSnapshot parses and checks the stored bytes of snapshot id. Every
// error it returns wraps ErrSnapshotDamaged.
func ParseSnapshot(data []byte, id ID, maxChunk int) (*Snapshot, error) {
	if len(data) > MaxSnapshotSize {
		return nil, damagedf("snapshot %s is %d bytes, more than the %d a snapshot may have", ShortID(id), len(data), MaxSnapshotSize)
	}
	if got := ID(sha256.Sum256(data)); got != id {
		return nil, damagedf("snapshot %s is damaged: its content hashes to %s", ShortID(id), ShortID(got))
	}
	var s Snapshot
	// Unmarshal decodes from data as it is, without a copy of it.
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, damagedf("snapshot %s is damaged: %v", ShortID(id), err)
	}
	if err := s.check(maxChunk, !s.listed()); err != nil {
		return nil, damagedf("snapshot %s is invalid: %w", ShortID(id), err)
	}
	s.id = id
	return &s, nil
}

// listed reports whether the snapshot's chunk lists are in packs (format
// 2), to be loaded after the snapshot itself.
func (s *Snapshot) listed() bool { return s.Image != nil && len(s.Image.Lists) > 0 }

// withoutChunks returns a copy of s whose image's areas list no chunks:
// what a format-2 snapshot stores as JSON.
func (s *Snapshot) withoutChunks() *Snapshot {
	c := *s
	img := *s.Image
	img.Disks = append([]Disk(nil), img.Disks...)
	for i := range img.Disks {
		d := &img.Disks[i]
		d.Boot = append([]Area(nil), d.Boot...)
		for j := range d.Boot {
			d.Boot[j].Chunks = nil
		}
		d.Partitions = append([]Partition(nil), d.Partitions...)
		for j := range d.Partitions {
			d.Partitions[j].Chunks = nil
		}
	}
	c.Image = &img
	return &c
}

// checkZeroRefs checks that every chunk flagged all-zero has the id of that
// many zero bytes: a restore writes zeros for it without fetching anything,
// so a flag that disagrees with the id would restore the wrong content.
func (img *Image) checkZeroRefs() error {
	zeroIDs := make(map[int64]chunk.ID) // by length: at most two (full and last)
	var zeros []byte
	check := func(where string, a *Area) error {
		for _, c := range a.Chunks {
			if !c.Zero {
				continue
			}
			rng := a.Range(c.I, img.ChunkSize)
			want, ok := zeroIDs[rng.Len]
			if !ok {
				if int64(len(zeros)) < rng.Len {
					zeros = make([]byte, rng.Len)
				}
				want = chunk.Hash(zeros[:rng.Len])
				zeroIDs[rng.Len] = want
			}
			if c.ID != want {
				return fmt.Errorf("%s: chunk %d at disk offset %d is flagged all-zero, but its id %s is not that of %d zero bytes", where, c.I, a.Offset+rng.Off, c.ID.Short(), rng.Len)
			}
		}
		return nil
	}
	for i := range img.Disks {
		d := &img.Disks[i]
		for j := range d.Boot {
			if err := check(fmt.Sprintf("disk %d boot area %d", i+1, j+1), &d.Boot[j]); err != nil {
				return err
			}
		}
		for j := range d.Partitions {
			if err := check(fmt.Sprintf("disk %d partition %d", i+1, d.Partitions[j].Index), &d.Partitions[j].Area); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoadSnapshot reads and checks snapshot id. A snapshot that is too large,
// does not match its id or does not parse is an error that wraps
// ErrSnapshotDamaged; one that is gone wraps fs.ErrNotExist.
func (r *Repository) LoadSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	name := snapshotsDir + "/" + id.String()
	fi, err := r.s.Stat(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ShortID(id), err)
	}
	return r.loadSnapshot(ctx, id, fi.Size)
}

// loadSnapshot reads snapshot id, of size bytes, into one buffer of that
// size, refusing it by its size before reading anything.
func (r *Repository) loadSnapshot(ctx context.Context, id ID, size int64) (*Snapshot, error) {
	s, err := r.readSnapshot(ctx, id, size)
	if err != nil || !s.listed() {
		return s, err
	}
	return r.withLists(ctx, id, s)
}

// withLists loads and checks the chunk lists of snapshot s (id).
func (r *Repository) withLists(ctx context.Context, id ID, s *Snapshot) (*Snapshot, error) {
	if err := r.loadLists(ctx, id, s.Image); err != nil {
		return nil, err
	}
	if err := s.check(r.cfg.MaxChunkSize, true); err != nil {
		return nil, damagedf("snapshot %s is invalid: %w", ShortID(id), err)
	}
	return s, nil
}

// readSnapshotOf is readSnapshot of head h's snapshot, from the bytes its
// head read when those were the whole file: ParseSnapshot checks them
// against the id as it checks a file read anew.
func (r *Repository) readSnapshotOf(ctx context.Context, h *Head) (*Snapshot, error) {
	if h.whole != nil && int64(len(h.whole)) == h.Size && h.Size <= MaxSnapshotSize {
		return ParseSnapshot(h.whole, h.ID, r.cfg.MaxChunkSize)
	}
	return r.readSnapshot(ctx, h.ID, h.Size)
}

// loadSnapshotOf is loadSnapshot of head h's snapshot (see readSnapshotOf).
func (r *Repository) loadSnapshotOf(ctx context.Context, h *Head) (*Snapshot, error) {
	s, err := r.readSnapshotOf(ctx, h)
	if err != nil || !s.listed() {
		return s, err
	}
	return r.withLists(ctx, h.ID, s)
}

// readSnapshot reads and checks snapshot id, of size bytes, without its
// chunk lists.
func (r *Repository) readSnapshot(ctx context.Context, id ID, size int64) (*Snapshot, error) {
	if size > MaxSnapshotSize {
		return nil, damagedf("snapshot %s is %d bytes, more than the %d a snapshot may have; it was not read", ShortID(id), size, MaxSnapshotSize)
	}
	data := make([]byte, size)
	n, err := r.s.ReadAt(ctx, snapshotsDir+"/"+id.String(), data, 0)
	if n == len(data) && errors.Is(err, io.EOF) {
		err = nil // io.ReaderAt may say EOF with the last byte
	}
	if errors.Is(err, io.EOF) {
		return nil, damagedf("snapshot %s is damaged: it shrank from %d to %d bytes while being read", ShortID(id), size, n)
	}
	if err != nil {
		return nil, fmt.Errorf("reading snapshot %s: %w", ShortID(id), err)
	}
	return ParseSnapshot(data, id, r.cfg.MaxChunkSize)
}

// headSize is how much of a snapshot file readHead reads. The fields it
// looks for come first in every snapshot rewind writes.
const headSize = 4096

// Head is what the first bytes of a snapshot say about it, read without the
// rest of the file: enough to list and pick snapshots without loading every
// one. A snapshot's head is a claim, not a check: only a load (which checks
// the content against the id) tells whether the snapshot can be used.
type Head struct {
	ID      ID
	Size    int64     // bytes, as stored
	ModTime time.Time // the file's, as the store reports it
	// Kind, Machine and Time are empty when the head cannot be read; the
	// snapshot is then damaged, and whose it is cannot be told.
	Kind    string
	Machine string
	Time    time.Time
	Host    string
	Note    string
	// Hardware is the snapshot's, when it fits in the head.
	Hardware *Hardware
	// Err is set when even the head cannot be read or the file is too
	// large to load; it wraps ErrSnapshotDamaged unless the store failed.
	Err error
	// whole is the file's bytes when the head's read took all of them,
	// so that loading it reads nothing more (over SMB a read of a small
	// file is mostly its open and close); nil beyond Heads' budget.
	whole []byte
}

// Known reports whether the head names a machine, kind and time.
func (h *Head) Known() bool { return h.Machine != "" && h.Kind != "" && !h.Time.IsZero() }

// readHead reads the head of snapshot fi.
func (r *Repository) readHead(ctx context.Context, id ID, fi store.Info) Head {
	h := Head{ID: id, Size: fi.Size, ModTime: fi.ModTime}
	buf := make([]byte, min(fi.Size, headSize))
	n, err := r.s.ReadAt(ctx, snapshotsDir+"/"+id.String(), buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		h.Err = fmt.Errorf("reading snapshot %s: %w", ShortID(id), err)
		return h
	}
	parseHead(buf[:n], &h)
	if int64(n) == fi.Size {
		h.whole = buf[:n]
	}
	switch {
	case fi.Size > MaxSnapshotSize:
		h.Err = damagedf("snapshot %s is %d bytes, more than the %d a snapshot may have; it was not read", ShortID(id), fi.Size, MaxSnapshotSize)
	case !h.Known():
		h.Kind, h.Machine, h.Time = "", "", time.Time{}
		h.Err = damagedf("snapshot %s is damaged: its first bytes do not say whose it is or when it was taken", ShortID(id))
	}
	return h
}

// parseHead reads the leading fields of a snapshot's JSON object from b,
// which may end anywhere, and stops at the first field it does not know or
// cannot read.
func parseHead(b []byte, h *Head) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return
	}
	for range 16 { // the head has fewer fields than that
		t, err := dec.Token()
		if err != nil {
			return
		}
		key, ok := t.(string)
		if !ok {
			return
		}
		var v any
		switch key {
		case "version":
			v = new(int)
		case "kind":
			v = &h.Kind
		case "machine":
			v = &h.Machine
		case "time":
			v = &h.Time
		case "host":
			v = &h.Host
		case "note":
			v = &h.Note
		case "duration":
			v = new(Duration)
		case "hardware":
			h.Hardware = new(Hardware)
			v = h.Hardware
		default:
			return
		}
		if err := dec.Decode(v); err != nil {
			return
		}
		if key == "machine" && validMachine(h.Machine) != nil {
			h.Machine = ""
			return
		}
	}
}

// Heads reads the head of every stored snapshot, oldest first; snapshots
// whose time cannot be read come first. A snapshot removed while listing
// is left out.
func (r *Repository) Heads(ctx context.Context) ([]Head, error) {
	var files []store.Info
	err := r.s.List(ctx, snapshotsDir, func(fi store.Info) error {
		if _, err := chunk.ParseID(fi.Name); err == nil {
			files = append(files, fi)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing snapshots in %s: %w", r.s.Location(), err)
	}
	// Several reads in flight: over SMB each is a few round trips, and a
	// repository of years holds a thousand snapshots.
	all := make([]Head, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readsInFlight)
	for i, fi := range files {
		g.Go(func() error {
			id, _ := chunk.ParseID(fi.Name)
			all[i] = r.readHead(gctx, id, fi)
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	heads := make([]Head, 0, len(files))
	kept := 0
	for _, h := range all {
		if errors.Is(h.Err, fs.ErrNotExist) {
			continue
		}
		if kept += len(h.whole); kept > wholeBudget {
			h.whole = nil
		}
		heads = append(heads, h)
	}
	sort.SliceStable(heads, func(i, j int) bool { return heads[i].Time.Before(heads[j].Time) })
	return heads, nil
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

// EachSnapshot loads, oldest first, the snapshots whose head keep accepts
// (every one when keep is nil), and calls fn with each: with the snapshot,
// or with the error that makes it unusable (and a nil snapshot). Only one
// snapshot is in memory at a time, so that a repository of many large
// images is walked in the memory of one. A snapshot removed meanwhile is
// skipped. An error from fn stops the walk and is returned.
func (r *Repository) EachSnapshot(ctx context.Context, keep func(*Head) bool, fn func(*Head, *Snapshot, error) error) error {
	return r.eachSnapshot(ctx, keep, r.loadSnapshotOf, fn)
}

// EachManifest is EachSnapshot for listings: it loads each snapshot
// without its image's chunk lists, which are most of a large image and
// which only a restore, a prune or a check reads. The snapshot itself is
// checked against its id as a load does; its lists only by their packs
// being stored (one listing of the packs), so a listing shows an image
// whose lists are gone as damaged, and check tells the rest.
func (r *Repository) EachManifest(ctx context.Context, keep func(*Head) bool, fn func(*Head, *Snapshot, error) error) error {
	var once sync.Once
	var stored map[ID]bool
	var listErr error
	load := func(ctx context.Context, h *Head) (*Snapshot, error) {
		id := h.ID
		s, err := r.readSnapshotOf(ctx, h)
		if err != nil || !s.listed() || !r.Packed() {
			return s, err
		}
		once.Do(func() {
			stored = make(map[ID]bool)
			listErr = r.ListPacks(ctx, func(name chunk.ID, _ int64) error {
				stored[name] = true
				return nil
			}, nil)
		})
		if listErr != nil {
			return nil, listErr
		}
		for _, l := range s.Image.Lists {
			if l.Pack < 1 || int(l.Pack) > len(s.Image.Packs) || !stored[s.Image.Packs[l.Pack-1]] {
				return nil, damagedf("snapshot %s is damaged: a pack of its chunk lists is gone", ShortID(id))
			}
		}
		return s, nil
	}
	return r.eachSnapshotAhead(ctx, keep, load, fn)
}

// eachSnapshotAhead is eachSnapshot with up to readsInFlight snapshots
// loaded ahead of fn, which is still called in order: for listings, whose
// snapshots are small without their lists.
func (r *Repository) eachSnapshotAhead(ctx context.Context, keep func(*Head) bool, load func(context.Context, *Head) (*Snapshot, error), fn func(*Head, *Snapshot, error) error) error {
	heads, err := r.Heads(ctx)
	if err != nil {
		return err
	}
	type loaded struct {
		s   *Snapshot
		err error
	}
	var want []*Head
	for i := range heads {
		if keep == nil || keep(&heads[i]) {
			want = append(want, &heads[i])
		}
	}
	results := make([]chan loaded, len(want))
	sem := make(chan struct{}, readsInFlight)
	var wg sync.WaitGroup
	defer wg.Wait() // after the cancel below: loads ahead stop, not finish
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := func(i int) {
		results[i] = make(chan loaded, 1)
		h := want[i]
		if h.Err != nil {
			results[i] <- loaded{nil, h.Err}
			return
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := load(ctx, h)
			results[i] <- loaded{s, err}
		}()
	}
	next := 0
	for i, h := range want {
		for next < len(want) && next < i+readsInFlight {
			start(next)
			next++
		}
		res := <-results[i]
		if errors.Is(res.err, fs.ErrNotExist) {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fn(h, res.s, res.err); err != nil {
			return err
		}
	}
	return nil
}

// readsInFlight is how many snapshot files a listing reads at once.
const readsInFlight = 8

// wholeBudget bounds the bytes of whole small snapshots that Heads keeps
// for the loads that follow (a few thousand snapshots' worth); past it,
// a load reads its file again.
const wholeBudget = 16 << 20

func (r *Repository) eachSnapshot(ctx context.Context, keep func(*Head) bool, load func(context.Context, *Head) (*Snapshot, error), fn func(*Head, *Snapshot, error) error) error {
	heads, err := r.Heads(ctx)
	if err != nil {
		return err
	}
	for i := range heads {
		h := &heads[i]
		if keep != nil && !keep(h) {
			continue
		}
		var s *Snapshot
		err := h.Err
		if err == nil {
			s, err = load(ctx, h)
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fn(h, s, err); err != nil {
			return err
		}
	}
	return nil
}

// Snapshots loads every snapshot, oldest first, and holds them all in
// memory: for tests and small repositories; commands use EachSnapshot. A
// snapshot that cannot be read is reported to bad (which may be nil to
// fail instead) and skipped; one removed while listing is skipped silently.
func (r *Repository) Snapshots(ctx context.Context, bad func(ID, error)) ([]*Snapshot, error) {
	var out []*Snapshot
	err := r.EachSnapshot(ctx, nil, func(h *Head, s *Snapshot, err error) error {
		if err != nil {
			if bad == nil {
				return err
			}
			bad(h.ID, err)
			return nil
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// FindSnapshot returns the snapshot of machine and kind whose ID starts
// with ref (at least 4 hex digits), or with ref "latest" (or empty) its
// newest. The newest is the newest stored, readable or not: when it cannot
// be used, FindSnapshot refuses with an error that wraps ErrSnapshotDamaged
// and says what to do, and never falls back to an older one. A damaged
// snapshot whose machine cannot be told may be the newest of any machine,
// so it blocks "latest" for every machine until it is removed.
func (r *Repository) FindSnapshot(ctx context.Context, machine, kind, ref string) (*Snapshot, error) {
	what := kind
	if what == "" {
		what = "snapshot"
	}
	latest := ref == "" || ref == "latest"
	if !latest && len(ref) < 4 {
		return nil, fmt.Errorf("%s id %q is too short: give at least 4 hex digits", what, ref)
	}
	heads, err := r.Heads(ctx)
	if err != nil {
		return nil, err
	}
	var match, unknown []*Head
	for i := range heads {
		h := &heads[i]
		if !latest && !strings.HasPrefix(h.ID.String(), strings.ToLower(ref)) {
			continue
		}
		switch {
		case !h.Known():
			unknown = append(unknown, h)
		case (machine == "" || h.Machine == machine) && (kind == "" || h.Kind == kind):
			match = append(match, h)
		}
	}
	listing := "'rewind images --machine " + machine + "'"
	if kind != KindImage {
		listing = "'rewind snapshots --machine " + machine + "'"
	}
	var h *Head
	switch {
	case latest && len(unknown) > 0 && !errors.Is(unknown[0].Err, ErrSnapshotDamaged):
		// Not damage: the store could not read it (permissions, the NAS).
		return nil, fmt.Errorf("%w; it may be the newest %s of %q, so there is no telling which is the latest: make the repository readable and try again, or name one with --image ID (%s lists them)",
			unknown[0].Err, what, machine, listing)
	case latest && len(unknown) > 0:
		u := unknown[0]
		return nil, fmt.Errorf("%w; it may be the newest %s of %q, so there is no telling which is the latest: name one with --image ID (%s lists them), and run 'rewind check' (remove the damaged snapshot with 'rewind forget --id %s' once nothing else can be done)",
			u.Err, what, machine, listing, ShortID(u.ID))
	case latest && len(match) == 0:
		return nil, fmt.Errorf("machine %q has no %s in %s; 'rewind snapshots' lists what there is", machine, what, r.s.Location())
	case latest:
		h = match[len(match)-1]
	case len(match)+len(unknown) == 0:
		return nil, fmt.Errorf("no %s %q for machine %q in %s; 'rewind snapshots' lists what there is", what, ref, machine, r.s.Location())
	case len(match)+len(unknown) > 1:
		return nil, fmt.Errorf("%s id %q matches %d snapshots: give more digits", what, ref, len(match)+len(unknown))
	case len(unknown) == 1:
		return nil, fmt.Errorf("%w: run 'rewind check', and name another %s with --image ID (%s lists them)", unknown[0].Err, what, listing)
	default:
		h = match[0]
	}
	err = h.Err
	var s *Snapshot
	if err == nil {
		s, err = r.loadSnapshotOf(ctx, h)
	}
	if err == nil && (s.Machine != h.Machine || s.Kind != h.Kind) {
		err = damagedf("snapshot %s says it is a %s of %q further in than at its start (%s of %q)", ShortID(h.ID), s.Kind, s.Machine, h.Kind, h.Machine)
	}
	if err != nil {
		which := fmt.Sprintf("%s %s of %q taken %s", what, ShortID(h.ID), machine, h.Time.Local().Format("2006-01-02 15:04"))
		if latest {
			which = "the newest " + which
		}
		return nil, fmt.Errorf("%s cannot be used (%w); refusing to pick another by itself: name an older %s with --image ID (%s lists them), and run 'rewind check'", which, err, what, listing)
	}
	return s, nil
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
