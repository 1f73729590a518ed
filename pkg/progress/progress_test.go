// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package progress

import (
	"sync"
	"testing"
)

func TestTracker(t *testing.T) {
	tr := NewTracker()
	var seen []string
	tr.OnNote = func(s string) { seen = append(seen, s) }
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
	tr.Note("retrying")
	s := tr.Status()
	if s.Phase != "chunks" || s.Total != 1000 || s.Get(Done) != 1000 || s.Get(Written) != 1000*4096 {
		t.Errorf("Status() = %+v, want phase chunks, total 1000, done 1000, written %d", s, 1000*4096)
	}
	if len(s.Notes) != 1 || len(seen) != 1 {
		t.Errorf("notes = %v, OnNote saw %v; want one each", s.Notes, seen)
	}
	if again := tr.Status(); len(again.Notes) != 0 {
		t.Errorf("second Status() returned notes again: %v", again.Notes)
	}
	tr.Phase("verify", 10)
	if s := tr.Status(); s.Get(Done) != 0 || s.Get(Written) != 1000*4096 {
		t.Errorf("after a new phase: done %d written %d, want 0 and %d", s.Get(Done), s.Get(Written), 1000*4096)
	}
}
