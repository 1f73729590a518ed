// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package repo is rewind's repository format: a config file, chunks named by
// the hash of their content, snapshots (disk images and file trees) that
// name chunks, and locks. docs/FORMAT.md describes the same for readers
// written in other languages.
//
// Everything that the repository refers to is written before what refers to
// it: chunks before the snapshot naming them, and each file atomically. A
// crash at any point leaves a valid repository, at worst with chunks that no
// snapshot names yet, which prune removes.
package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/store"
)

// FormatVersion is the repository format this package writes and the newest
// it reads.
const FormatVersion = 2

// Default chunking parameters of a new repository.
const (
	DefaultChunkSize = 1 << 20  // 1 MiB: fine-grained enough that a week of changes touches few chunks
	MaxChunkSize     = 16 << 20 // no chunk's plaintext is larger
	// DefaultPackedChunkSize is the chunk size of a new format-2
	// repository: small, so that a week of scattered changes stores little
	// anew (an NTFS week with 10% of its bytes rewritten stores 14.8% at
	// 32 KiB, 16.1% at 64 KiB, 32.7% at 1 MiB: bench/granularity); packs
	// keep the file count down, and restores read neighbours in one request.
	DefaultPackedChunkSize = 32 << 10
)

// Config is the repository's config file, written once by Init.
type Config struct {
	Format  string `json:"format"`  // always "rewind"
	Version int    `json:"version"` // FormatVersion
	ID      string `json:"id"`      // random, 32 hex digits
	// Hash names chunks: "sha256" of the plaintext.
	Hash string `json:"hash"`
	// ChunkSize is the size of the fixed chunks disk images are cut into.
	ChunkSize int `json:"chunk_size"`
	// MaxChunkSize bounds every chunk's plaintext; readers refuse larger.
	MaxChunkSize int `json:"max_chunk_size"`
	// Cipher seals blobs, packs' trailers and indexes: "none" (format 2;
	// format 1 has no such field). Encryption at rest will be a value here.
	Cipher string `json:"cipher,omitempty"`
	// PackSize is the size a writer fills a pack to (format 2).
	PackSize int `json:"pack_size,omitempty"`
}

// Files and folders of a repository.
const (
	configFile   = "config"
	chunksDir    = "chunks"
	snapshotsDir = "snapshots"
	locksDir     = "locks"
)

// ErrNotRepository is returned by Open when there is no repository there.
var ErrNotRepository = errors.New("not a rewind repository")

// Repository is an open repository. Its methods may be called concurrently.
type Repository struct {
	s   store.Store
	cfg Config

	fallbackMu sync.Mutex
	fallback   *Index // loaded when a manifest's pack is gone (relocate)
	// fallbackFor is the image whose chunks fallback lists; nil: all.
	fallbackFor *Image
}

// InitOptions change the parameters of a new repository.
type InitOptions struct {
	// Version is the format: 0 or 2 for blobs in packs, 1 for a chunk file
	// per chunk (what rewind wrote before packs).
	Version int
	// ChunkSize is the size of a disk image's chunks. 0 picks the format's
	// default (DefaultPackedChunkSize, DefaultChunkSize); otherwise a power
	// of two from 16 KiB (format 2; 64 KiB in format 1) to MaxChunkSize.
	ChunkSize int
}

// Init creates a repository in s, which must not hold one already.
func Init(ctx context.Context, s store.Store, opt InitOptions) (*Repository, error) {
	if opt.Version == 0 {
		opt.Version = FormatVersion
	}
	if opt.Version != 1 && opt.Version != 2 {
		return nil, fmt.Errorf("format version %d: this rewind writes versions 1 and 2", opt.Version)
	}
	smallest := 64 << 10
	if opt.Version >= 2 {
		smallest = 16 << 10
	}
	if opt.ChunkSize == 0 {
		opt.ChunkSize = DefaultChunkSize
		if opt.Version >= 2 {
			opt.ChunkSize = DefaultPackedChunkSize
		}
	}
	if opt.ChunkSize < smallest || opt.ChunkSize > MaxChunkSize || opt.ChunkSize&(opt.ChunkSize-1) != 0 {
		return nil, fmt.Errorf("chunk size %d: want a power of two from %d KiB to %d MiB", opt.ChunkSize, smallest>>10, MaxChunkSize>>20)
	}
	_, err := s.Stat(ctx, configFile)
	if err == nil {
		return nil, fmt.Errorf("%s already holds a repository; use it as it is, or pick an empty folder", s.Location())
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", s.Location(), err)
	}
	var id [16]byte
	rand.Read(id[:])
	cfg := Config{
		Format:       "rewind",
		Version:      opt.Version,
		ID:           hex.EncodeToString(id[:]),
		Hash:         "sha256",
		ChunkSize:    opt.ChunkSize,
		MaxChunkSize: MaxChunkSize,
	}
	folders := []string{snapshotsDir, locksDir}
	if cfg.Version >= 2 {
		cfg.Cipher = "none"
		cfg.PackSize = DefaultPackSize
		folders = append(folders, indexDir)
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	// The folders first, the config last: a repository with a config is
	// complete.
	for i := range 256 {
		if cfg.Version >= 2 {
			break // packs/xx appear with their first pack
		}
		if err := s.Save(ctx, fmt.Sprintf("%s/%02x/%s", chunksDir, i, keepFile), nil); err != nil {
			return nil, fmt.Errorf("creating %s in %s: %w", chunksDir, s.Location(), err)
		}
	}
	for _, d := range folders {
		if err := s.Save(ctx, d+"/"+keepFile, nil); err != nil {
			return nil, fmt.Errorf("creating %s in %s: %w", d, s.Location(), err)
		}
	}
	if err := s.Save(ctx, configFile, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("writing the config of %s: %w", s.Location(), err)
	}
	return &Repository{s: s, cfg: cfg}, nil
}

// keepFile is an empty file that makes a folder exist on stores that have
// no empty folders (object storage). Readers ignore it.
const keepFile = ".keep"

// Open opens the repository in s.
func Open(ctx context.Context, s store.Store) (*Repository, error) {
	data, err := s.ReadFile(ctx, configFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no config file); create one with 'rewind init', or check the path", s.Location(), ErrNotRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", s.Location(), err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", s.Location(), configFile, err)
	}
	return &Repository{s: s, cfg: cfg}, nil
}

// ParseConfig parses and checks a config file.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("config is damaged (%v): %w", err, ErrNotRepository)
	}
	switch {
	case cfg.Format != "rewind":
		return Config{}, fmt.Errorf("config says format %q: %w", cfg.Format, ErrNotRepository)
	case cfg.Version < 1:
		return Config{}, fmt.Errorf("config has no valid version (%d)", cfg.Version)
	case cfg.Version > FormatVersion:
		return Config{}, fmt.Errorf("repository format version %d is newer than this rewind understands (%d): use a newer rewind", cfg.Version, FormatVersion)
	case cfg.Hash != "sha256":
		return Config{}, fmt.Errorf("config names hash %q; this rewind knows sha256", cfg.Hash)
	case cfg.MaxChunkSize < 1 || cfg.MaxChunkSize > 256<<20:
		return Config{}, fmt.Errorf("config's max_chunk_size %d is out of range", cfg.MaxChunkSize)
	case cfg.ChunkSize < 1 || cfg.ChunkSize > cfg.MaxChunkSize:
		return Config{}, fmt.Errorf("config's chunk_size %d is out of range (1 to %d)", cfg.ChunkSize, cfg.MaxChunkSize)
	case cfg.Version >= 2 && cfg.Cipher != "none":
		return Config{}, fmt.Errorf("config names cipher %q; this rewind knows none (an encrypted repository needs a newer rewind)", cfg.Cipher)
	case cfg.Version >= 2 && (cfg.PackSize < 1<<20 || cfg.PackSize > pack.MaxSize/2):
		return Config{}, fmt.Errorf("config's pack_size %d is out of range (1 MiB to %d MiB)", cfg.PackSize, pack.MaxSize>>21)
	}
	return cfg, nil
}

// Config returns the repository's parameters.
func (r *Repository) Config() Config { return r.cfg }

// Store returns the store the repository lives in.
func (r *Repository) Store() store.Store { return r.s }

// Location names the repository for people.
func (r *Repository) Location() string { return r.s.Location() }
