// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package progress

import (
	"fmt"
	"sync"
	"testing"
)

func TestTracker(t *testing.T) {
	tr := NewTracker()
	tr.Phase("chunks", 1000)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 100 {
				tr.Add(Done, 1)
				tr.Add(Written, 4096)
			}
		})
	}
	wg.Wait()
	tr.Note(Retry, "retrying")
	tr.At(2, 3)
	s := tr.Status()
	if s.Phase != "chunks" || s.Total != 1000 || s.Get(Done) != 1000 || s.Get(Written) != 1000*4096 {
		t.Errorf("Status() = %+v, want phase chunks, total 1000, done 1000, written %d", s, 1000*4096)
	}
	if len(s.Notes) != 1 || s.Notes[0] != (Note{Retry, "retrying"}) {
		t.Errorf("notes = %v, want one retry note", s.Notes)
	}
	if s.Disk != 2 || s.Part != 3 {
		t.Errorf("at disk %d partition %d, want 2 and 3", s.Disk, s.Part)
	}
	if again := tr.Status(); len(again.Notes) != 0 {
		t.Errorf("second Status() returned notes again: %v", again.Notes)
	}
	tr.Phase("verify", 10)
	if s := tr.Status(); s.Get(Done) != 0 || s.Get(Written) != 1000*4096 {
		t.Errorf("after a new phase: done %d written %d, want 0 and %d", s.Get(Done), s.Get(Written), 1000*4096)
	}
}

// TestTrackerNotesBounded: a job that notes far faster than anyone reads
// keeps the newest MaxNotes and counts the rest; Note never waits.
func TestTrackerNotesBounded(t *testing.T) {
	tr := NewTracker()
	for i := range 10 * MaxNotes {
		tr.Note(Warning, fmt.Sprint(i))
	}
	s := tr.Status()
	if len(s.Notes) != MaxNotes || s.Dropped != 9*MaxNotes {
		t.Fatalf("kept %d notes, dropped %d; want %d and %d", len(s.Notes), s.Dropped, MaxNotes, 9*MaxNotes)
	}
	if last := s.Notes[MaxNotes-1].Text; last != fmt.Sprint(10*MaxNotes-1) {
		t.Errorf("newest note kept is %q, want the last one sent", last)
	}
	if s := tr.Status(); len(s.Notes) != 0 || s.Dropped != 0 {
		t.Errorf("second Status: %d notes, %d dropped; want none", len(s.Notes), s.Dropped)
	}
}
