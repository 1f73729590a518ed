// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/restore"
)

// runScreen follows a running restore or capture.
type runScreen struct {
	tracker  *progress.Tracker
	cancel   context.CancelFunc
	running  bool
	askStop  bool
	stopping bool
	started  time.Time
	ended    time.Time
	status   progress.Status
	notes    []progress.Note // the last few
	// chunkTotal is the write phase's total, kept for the overall figure
	// once the read-back starts.
	chunkTotal int64
	sum        *restore.Summary
	capRes     *capture.Result
	err        error
	// done is closed when the job's goroutine has returned: close waits
	// for it before it lets go of the disks.
	done chan struct{}
}

// tickEvery is how often a running job's figures are read: the screen
// changes at most this often.
const tickEvery = time.Second / fps

type tickMsg time.Time

func tick() tea.Cmd {
	return tea.Tick(tickEvery, func(t time.Time) tea.Msg { return tickMsg(t) })
}

type restoredMsg struct {
	sum *restore.Summary
	err error
}

// startRestore runs the confirmed plan in the background.
func (m *Model) startRestore() tea.Cmd {
	ctx, cancel := context.WithCancel(m.ctx)
	m.run = runScreen{tracker: progress.NewTracker(), cancel: cancel, running: true, started: m.opt.Now(), done: make(chan struct{})}
	m.repo.notes.Set(m.run.tracker)
	m.goTo(stepRun)
	plan, tr, done := m.targ.plan, m.run.tracker, m.run.done
	return tea.Batch(tick(), func() tea.Msg {
		defer close(done)
		sum, err := plan.Run(ctx, job.RestoreOptions{Progress: tr})
		return restoredMsg{sum, err}
	})
}

func (m *Model) tick(tickMsg) (tea.Model, tea.Cmd) {
	switch {
	case m.some.running:
	case m.files.running:
		m.files.status = takeStatus(m.files.tracker, &m.files.notes)
	case m.run.running:
		m.take()
	default:
		return m, nil
	}
	return m, tick()
}

// take reads the running job's figures and notes.
func (m *Model) take() {
	rs := &m.run
	rs.status = takeStatus(rs.tracker, &rs.notes)
	if rs.status.Phase == "chunks" {
		rs.chunkTotal = rs.status.Total
	}
}

// takeStatus reads tr's figures, keeping its newest notes in notes (at
// most 5).
func takeStatus(tr *progress.Tracker, notes *[]progress.Note) progress.Status {
	s := tr.Status()
	if s.Dropped > 0 {
		s.Notes = append(s.Notes, progress.Note{Level: progress.Warning, Text: fmt.Sprintf("%d more notes were left out", s.Dropped)})
	}
	*notes = append(*notes, s.Notes...)
	if len(*notes) > 5 {
		*notes = (*notes)[len(*notes)-5:]
	}
	s.Notes = nil
	return s
}

func (m *Model) restored(msg restoredMsg) (tea.Model, tea.Cmd) {
	rs := &m.run
	m.take()
	rs.running, rs.askStop, rs.sum, rs.err, rs.ended = false, false, msg.sum, msg.err, m.opt.Now()
	cmd := m.saveReport("restore")
	if rs.err == nil && m.point.chosenFiles() != nil {
		return m, tea.Batch(cmd, m.startReplay())
	}
	m.goTo(stepDone)
	return m, cmd
}

type reportMsg struct {
	run  int // Model.runs when it was saved
	name string
	err  error
}

// saveReport saves the outcome into the repository, as --report does.
func (m *Model) saveReport(task string) tea.Cmd {
	rs := m.run
	r := m.r
	rep := job.Report{Task: task, Start: rs.started, Err: rs.err}
	switch task {
	case "restore":
		rep.Machine = m.targ.snap.Machine
		rep.Image = m.targ.snap.ID().String()
		rep.Targets = m.targ.plan.Targets()
		rep.Result = rs.sum
	case "capture":
		rep.Machine = m.capt.name.value
		rep.Targets = m.capt.chosen()
		if rs.capRes != nil {
			rep.Image = rs.capRes.Snapshot.ID().String()
			rep.Result = rs.capRes.Stats
		}
	}
	run := m.runs
	return func() tea.Msg {
		name, err := job.SaveReport(m.ctx, r, rep)
		return reportMsg{run, name, err}
	}
}

// banner is the line readable from across the room.
func (m *Model) banner() string {
	c := m.opt.Color
	rs := &m.run
	verb := "RESTORING"
	if m.flow == flowCapture {
		verb = "CAPTURING"
	}
	var s string
	st := stBanner
	switch {
	case rs.running && rs.stopping:
		s = "STOPPING"
	case rs.running:
		pct, left := m.overall()
		s = fmt.Sprintf("%s %d%%", verb, pct)
		if left > 0 {
			s += " - " + roundLeft(left) + " left"
		}
	case rs.err != nil:
		st = stBanFail
		s = "FAILED X " + failWord(rs.err)
	default:
		st = stBanOK
		s = "DONE  OK"
	}
	pad := max((m.w-2-len(s))/2, 1)
	return st.render(fit(strings.Repeat(" ", pad)+s, m.w-2), c)
}

func failWord(err error) string {
	if errors.Is(err, context.Canceled) {
		return "stopped"
	}
	s := job.OneLine(err.Error())
	if i := strings.IndexAny(s, ":;"); i > 0 && i <= 60 {
		s = s[:i]
	}
	return fit(s, 60)
}

func roundLeft(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()+0.5))
	}
	return fmt.Sprintf("%dh %02dmin", int(d.Hours()), int(d.Minutes())%60)
}

// overall is the job's percentage and time left: for a restore the write
// and the read-back count alike (each covers the image's used bytes).
func (m *Model) overall() (int, time.Duration) {
	rs := &m.run
	s := rs.status
	done, total := s.Get(progress.Done), s.Total
	switch {
	case m.flow == flowRestore && s.Phase == "chunks":
		total = 2 * s.Total
	case m.flow == flowRestore && s.Phase == "verify":
		done, total = rs.chunkTotal+done, rs.chunkTotal+s.Total
	case s.Phase != "chunks":
		return 0, 0
	}
	if total <= 0 {
		return 0, 0
	}
	frac := min(float64(done)/float64(total), 1)
	elapsed := m.opt.Now().Sub(rs.started)
	var left time.Duration
	if frac > 0.01 && elapsed > 2*time.Second {
		left = time.Duration(float64(elapsed) * (1 - frac) / frac)
	}
	return int(frac * 100), left
}

func (m *Model) runView() ([]string, string) {
	c := m.opt.Color
	rs := &m.run
	s := rs.status
	b := []string{m.banner(), ""}
	what := "Writing the image"
	if m.flow == flowRestore {
		what = "1/2 Writing the image"
	}
	switch s.Phase {
	case "verify":
		what = "2/2 Reading back and checking what was written"
	case "table", "layout", "index", "":
		what = "Preparing"
	case "snapshot":
		what = "Saving the snapshot"
	}
	if m.flow == flowCapture && s.Phase == "chunks" {
		what = "Reading the disks and storing what is new"
	}
	if s.Disk > 0 {
		what += fmt.Sprintf(" - disk %d", s.Disk)
		if s.Part > 0 {
			what += fmt.Sprintf(", partition %d", s.Part)
		}
	}
	b = append(b, what)
	if s.Total > 0 && (s.Phase == "chunks" || s.Phase == "verify") {
		done := s.Get(progress.Done)
		frac := min(float64(done)/float64(s.Total), 1)
		bar := int(frac * 40)
		b = append(b, fmt.Sprintf("[%s%s] %3.0f%%  %s of %s", strings.Repeat("#", bar), strings.Repeat(".", 40-bar), 100*frac, human.Bytes(done), human.Bytes(s.Total)))
		if el := m.opt.Now().Sub(s.Started).Seconds(); el > 0.5 {
			b = append(b, fmt.Sprintf("%s/s", human.Bytes(int64(float64(done)/el))))
		}
	}
	b = append(b, "")
	if m.flow == flowRestore {
		b = append(b, fmt.Sprintf("Fetched: %-10s  Already in place: %-10s  Written: %s",
			human.Bytes(s.Get(progress.Fetched)), human.Bytes(s.Get(progress.Skipped)), human.Bytes(s.Get(progress.Written))))
	} else {
		b = append(b, fmt.Sprintf("Read: %-10s Stored anew: %s", human.Bytes(s.Get(progress.Read)), human.Bytes(s.Get(progress.Stored))))
	}
	b = append(b, "", "Recent notes:")
	b = append(b, m.notesView(rs.notes)...)
	if rs.askStop {
		question := "Stop now? The disk will be partly written; the same restore run again finishes it. y/n"
		if m.flow == flowCapture {
			question = "Stop now? No image is saved; what was stored is used by the next capture. y/n"
		}
		b = append(b, "", stErr.render(question, c))
		return b, "y stop  n go on"
	}
	return b, "Esc or Ctrl+C stop (asks first)"
}

// notesView draws the last notes, retries and warnings marked.
func (m *Model) notesView(notes []progress.Note) []string {
	c := m.opt.Color
	var b []string
	if len(notes) == 0 {
		b = append(b, "  none")
	}
	for _, n := range notes {
		st, tag := style{}, "      "
		switch n.Level {
		case progress.Retry:
			st, tag = stWarn, "RETRY "
		case progress.Warning:
			st, tag = stWarn, "WARN  "
		}
		lines := wrap(n.Text, m.w-12)
		if len(lines) > 2 {
			lines = lines[:2]
			lines[1] = fit(lines[1]+" ...", m.w-12)
		}
		for i, l := range lines {
			if i > 0 {
				tag = "      "
			}
			b = append(b, st.render("  "+tag+l, c))
		}
	}
	return b
}

func (m *Model) runKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	rs := &m.run
	if !rs.running {
		return m, nil
	}
	if rs.askStop {
		switch k.String() {
		case "y", "Y":
			rs.askStop, rs.stopping = false, true
			rs.cancel()
		case "n", "N", "esc":
			rs.askStop = false
		}
		return m, nil
	}
	if k.Type == tea.KeyEsc {
		rs.askStop = true
	}
	return m, nil
}
