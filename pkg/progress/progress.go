// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package progress is how engines (capture, restore, check, prune) tell a
// front end how far they are, without drawing anything themselves. An engine
// calls a Reporter; a front end (the CLI's bar, its JSON lines, the TUI)
// usually passes a *Tracker and reads its Status at its own pace, at most a
// few times a second.
package progress

import (
	"sync"
	"sync/atomic"
	"time"
)

// Counter names one of the byte (or item) counts a job keeps.
type Counter int

// The counters. Not every job uses every one.
const (
	Done    Counter = iota // units of the current phase completed
	Read                   // bytes read from a disk
	Fetched                // bytes fetched from the repository (as stored)
	Stored                 // bytes newly stored in the repository (as stored)
	Written                // bytes written to a disk
	Skipped                // bytes skipped because the target already held them
	Items                  // things handled: chunks, files, snapshots
	numCounters
)

var counterNames = [numCounters]string{"done", "read", "fetched", "stored", "written", "skipped", "items"}

// String returns the counter's name as used in JSON progress lines.
func (c Counter) String() string {
	if c < 0 || c >= numCounters {
		return "unknown"
	}
	return counterNames[c]
}

// Reporter receives a job's progress. Implementations are safe for
// concurrent use and cheap: engines call Add for every chunk from many
// goroutines.
type Reporter interface {
	// Phase starts a named phase of the job ("layout", "chunks",
	// "verify"), whose work is total units of Done (0: unknown). It resets
	// Done; the other counters keep counting across phases.
	Phase(name string, total int64)
	// Add adds n to counter c.
	Add(c Counter, n int64)
	// Note reports something a person should see now: a warning, a retry
	// after a network error. One line, no trailing newline. It never
	// blocks: a front end reads notes at its own pace.
	Note(l Level, msg string)
	// At says where the job is now: disk (from 1) and partition (its
	// number on that disk; 0: the disk as a whole, its partition table or
	// boot areas). Jobs that do not work on disks never call it.
	At(disk, part int)
}

// Level says how a front end should show a note.
type Level int

// The levels of a note.
const (
	Info    Level = iota // something worth knowing: a phase's outcome
	Warning              // something the person should look at
	Retry                // a network or disk error being retried
)

var levelNames = [...]string{"info", "warning", "retry"}

// String returns the level's name as used in JSON progress lines.
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return "unknown"
	}
	return levelNames[l]
}

// Note is a note as a Tracker keeps it.
type Note struct {
	Level Level
	Text  string
}

// Discard is a Reporter that ignores everything.
var Discard Reporter = discard{}

type discard struct{}

func (discard) Phase(string, int64) {}
func (discard) Add(Counter, int64)  {}
func (discard) Note(Level, string)  {}
func (discard) At(int, int)         {}

// Status is a snapshot of a Tracker.
type Status struct {
	Phase   string
	Total   int64 // units of the phase; 0 if unknown
	Counts  [numCounters]int64
	Started time.Time // when the phase started
	// Disk and Part are where the job is (Reporter.At); 0 when it has not
	// said.
	Disk, Part int
	Notes      []Note // notes not yet taken by a previous Status call
	// Dropped counts the notes that arrived while MaxNotes were waiting
	// and were not kept.
	Dropped int
}

// Get returns counter c.
func (s Status) Get(c Counter) int64 { return s.Counts[c] }

// Tracker is a Reporter that keeps the counts for a front end to read.
type Tracker struct {
	counts [numCounters]atomic.Int64

	mu         sync.Mutex
	phase      string
	total      int64
	started    time.Time
	disk, part int
	notes      []Note
	dropped    int
	now        func() time.Time
}

// MaxNotes is how many notes a Tracker keeps for the next Status call. A
// job that notes faster than its front end reads (a failing disk, thousands
// of unreadable files) loses the oldest, not memory nor time.
const MaxNotes = 256

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{now: time.Now, started: time.Now()}
}

// Phase implements Reporter.
func (t *Tracker) Phase(name string, total int64) {
	t.mu.Lock()
	t.phase, t.total, t.started = name, total, t.now()
	t.counts[Done].Store(0)
	t.mu.Unlock()
}

// Add implements Reporter.
func (t *Tracker) Add(c Counter, n int64) {
	if c >= 0 && c < numCounters {
		t.counts[c].Add(n)
	}
}

// Note implements Reporter.
func (t *Tracker) Note(l Level, msg string) {
	t.mu.Lock()
	if len(t.notes) >= MaxNotes {
		n := copy(t.notes, t.notes[1:])
		t.notes = t.notes[:n]
		t.dropped++
	}
	t.notes = append(t.notes, Note{l, msg})
	t.mu.Unlock()
}

// At implements Reporter.
func (t *Tracker) At(disk, part int) {
	t.mu.Lock()
	t.disk, t.part = disk, part
	t.mu.Unlock()
}

// Status returns the current counts and the notes that arrived since the
// last call.
func (t *Tracker) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Status{Phase: t.phase, Total: t.total, Started: t.started, Disk: t.disk, Part: t.part, Notes: t.notes, Dropped: t.dropped}
	t.notes, t.dropped = nil, 0
	for i := range s.Counts {
		s.Counts[i] = t.counts[i].Load()
	}
	return s
}

// Relay is a Reporter that passes everything on to another, which may be
// changed at any time: for a long-lived source of notes (a repository's
// network retries) whose front end shows one job after another.
type Relay struct {
	mu sync.Mutex
	to Reporter
}

// Set makes the relay pass on to r (nil: nowhere).
func (rl *Relay) Set(r Reporter) {
	rl.mu.Lock()
	rl.to = r
	rl.mu.Unlock()
}

func (rl *Relay) get() Reporter {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.to == nil {
		return Discard
	}
	return rl.to
}

// Phase implements Reporter.
func (rl *Relay) Phase(name string, total int64) { rl.get().Phase(name, total) }

// Add implements Reporter.
func (rl *Relay) Add(c Counter, n int64) { rl.get().Add(c, n) }

// Note implements Reporter.
func (rl *Relay) Note(l Level, msg string) { rl.get().Note(l, msg) }

// At implements Reporter.
func (rl *Relay) At(disk, part int) { rl.get().At(disk, part) }
