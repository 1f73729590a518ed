// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/progress"
)

// progressMode says how a verb shows progress.
type progressMode int

const (
	progressAuto  progressMode = iota // a bar on a terminal, plain lines otherwise
	progressJSON                      // one JSON object a line, for scripts
	progressQuiet                     // nothing but notes
)

// printer shows a Tracker's progress on a writer until stopped: a redrawn
// line on a terminal (5 times a second), a plain line every 10 s otherwise,
// a JSON line a second with --json. Notes go to stderr within a fifth of a
// second (in JSON mode as JSON lines on stdout); the engine that notes never
// waits for the terminal.
type printer struct {
	t    *progress.Tracker
	w    io.Writer
	errw io.Writer
	mode progressMode
	tty  bool

	mu       sync.Mutex
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	last     int // width of the last bar drawn
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func startProgress(o OS, mode progressMode) *printer {
	p := &printer{
		t: progress.NewTracker(), w: o.Stdout, errw: o.Stderr, mode: mode,
		tty: isTerminal(o.Stdout), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go p.run()
	return p
}

// notes prints the notes of s. Called with p.mu held.
func (p *printer) notes(s progress.Status) {
	if s.Dropped > 0 {
		s.Notes = append(s.Notes, progress.Note{Level: progress.Warning, Text: fmt.Sprintf("%d more notes were left out", s.Dropped)})
	}
	for _, n := range s.Notes {
		if p.mode == progressJSON {
			b, _ := json.Marshal(map[string]string{"type": "note", "level": n.Level.String(), "message": n.Text})
			fmt.Fprintf(p.w, "%s\n", b)
			continue
		}
		p.clearLine()
		fmt.Fprintf(p.errw, "rewind: %s\n", n.Text)
	}
}

// noteEvery is how often the printer looks for notes.
const noteEvery = 200 * time.Millisecond

func (p *printer) run() {
	defer close(p.done)
	every := 10 * time.Second
	switch {
	case p.mode == progressJSON:
		every = time.Second
	case p.tty:
		every = 200 * time.Millisecond
	}
	tick := time.NewTicker(noteEvery)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-p.stop:
			p.mu.Lock()
			p.notes(p.t.Status())
			p.mu.Unlock()
			return
		case now := <-tick.C:
			s := p.t.Status()
			p.mu.Lock()
			p.notes(s)
			p.mu.Unlock()
			if now.Sub(last) >= every-noteEvery/2 {
				p.draw(s)
				last = now
			}
		}
	}
}

// Stop stops the printer and clears the bar. It may be called more than
// once.
func (p *printer) Stop() {
	p.stopOnce.Do(func() {
		close(p.stop)
		<-p.done
		p.mu.Lock()
		p.clearLine()
		p.mu.Unlock()
	})
}

func (p *printer) clearLine() {
	if p.tty && p.last > 0 && p.mode == progressAuto {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.last))
		p.last = 0
	}
}

func (p *printer) draw(s progress.Status) {
	if s.Phase == "" || p.mode == progressQuiet {
		return
	}
	elapsed := time.Since(s.Started)
	done := s.Get(progress.Done)
	rate := float64(done) / max(elapsed.Seconds(), 0.001)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == progressJSON {
		m := map[string]any{"type": "progress", "phase": s.Phase, "total": s.Total, "elapsed": elapsed.Seconds()}
		for c := progress.Done; c <= progress.Items; c++ {
			m[c.String()] = s.Get(c)
		}
		b, _ := json.Marshal(m)
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	line := s.Phase + ": " + counts(s)
	if s.Total > 0 {
		frac := min(float64(done)/float64(s.Total), 1)
		line = fmt.Sprintf("%s %s %3.0f%% %s of %s", s.Phase, bar(frac, 24), 100*frac, human.Bytes(done), human.Bytes(s.Total))
		if rate > 0 && done < s.Total {
			eta := time.Duration(float64(s.Total-done)/rate) * time.Second
			line += fmt.Sprintf(", %s/s, %s left", human.Bytes(int64(rate)), eta.Round(time.Second))
		}
	}
	if p.tty {
		pad := max(p.last-len(line), 0)
		fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
		p.last = len(line)
		return
	}
	fmt.Fprintln(p.w, line)
}

func bar(frac float64, width int) string {
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// counts says what a phase without a known total has done so far: its
// done bytes, the entries handled (files), and the bytes read, fetched,
// written and stored, those that are not zero.
func counts(s progress.Status) string {
	var parts []string
	if n := s.Get(progress.Done); n > 0 || s.Get(progress.Items) == 0 {
		parts = append(parts, human.Bytes(n))
	}
	if n := s.Get(progress.Items); n > 0 {
		parts = append(parts, fmt.Sprintf("%d entries", n))
	}
	for _, c := range []progress.Counter{progress.Read, progress.Fetched, progress.Written, progress.Stored} {
		if n := s.Get(c); n > 0 {
			parts = append(parts, human.Bytes(n)+" "+c.String())
		}
	}
	return strings.Join(parts, ", ")
}
