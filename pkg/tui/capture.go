// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"context"
	"os"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// captureScreen asks the machine's name, a note, and the disks.
type captureScreen struct {
	name, note field
	disks      []localDisk
	pick       []bool
	focus      int // 0 name, 1 note, 2+ disks
}

// chosen returns the disks picked.
func (cs *captureScreen) chosen() []string {
	var out []string
	for i, ok := range cs.pick {
		if ok {
			out = append(out, cs.disks[i].Path)
		}
	}
	return out
}

// startCapture fills the form: the name from the settings, else from the
// repository's machine (ms) whose recorded hardware is this machine's, else
// the host name.
func (m *Model) startCapture(ms []job.RepoMachine) {
	name := m.opt.Machine
	if name == "" {
		best := 0
		for _, x := range ms {
			if x.Score >= job.SameMachine && x.Score > best {
				name, best = x.Name, x.Score
			}
		}
	}
	if name == "" {
		if h, err := os.Hostname(); err == nil && repo.ValidMachine(h) == nil && h != "localhost" && h != "(none)" {
			name = h
		}
	}
	cs := captureScreen{name: field{label: "Machine name", value: name, max: 64}, note: field{label: "Note        ", max: 200}}
	cs.disks = m.disks
	cs.pick = make([]bool, len(cs.disks))
	for i, d := range cs.disks {
		cs.pick[i] = d.Refusal == ""
	}
	m.capt = cs
}

func (m *Model) captureView() ([]string, string) {
	c := m.opt.Color
	cs := &m.capt
	b := []string{"The image is stored under the machine's name; a restore finds it by that name", "and by this machine's hardware.", ""}
	b = append(b, cs.name.view(cs.focus == 0, m.w-4, c), cs.note.view(cs.focus == 1, m.w-4, c), "", "Disks to capture (Space toggles):")
	for i, d := range cs.disks {
		mark := "[ ]"
		if cs.pick[i] {
			mark = "[x]"
		}
		line := mark + " " + d.line()
		switch {
		case cs.focus == 2+i:
			b = append(b, stCursor.render("> "+line+" ", c))
		case d.Refusal != "":
			b = append(b, stDim.render("  "+line+"  ("+d.Refusal+")", c))
		default:
			b = append(b, "  "+line)
		}
	}
	return b, "Tab/Up/Down move  Space pick a disk  Enter start  Esc back"
}

func (m *Model) captureKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	cs := &m.capt
	n := 2 + len(cs.disks)
	switch k.Type {
	case tea.KeyEsc:
		m.goBack()
		return m, nil
	case tea.KeyTab, tea.KeyDown:
		cs.focus = (cs.focus + 1) % n
		return m, nil
	case tea.KeyShiftTab, tea.KeyUp:
		cs.focus = (cs.focus + n - 1) % n
		return m, nil
	case tea.KeyEnter:
		return m, m.runCapture()
	}
	switch {
	case cs.focus == 0:
		cs.name.key(k)
	case cs.focus == 1:
		cs.note.key(k)
	case k.Type == tea.KeySpace || k.String() == "x":
		i := cs.focus - 2
		if cs.disks[i].Refusal == "" {
			cs.pick[i] = !cs.pick[i]
		}
	}
	return m, nil
}

type capturedMsg struct {
	res *capture.Result
	err error
}

// runCapture checks the form and captures in the background.
func (m *Model) runCapture() tea.Cmd {
	cs := &m.capt
	if err := repo.ValidMachine(cs.name.value); err != nil {
		m.err = err.Error()
		return nil
	}
	paths := cs.chosen()
	if len(paths) == 0 {
		m.err = "pick at least one disk (Space)"
		return nil
	}
	req := job.CaptureRequest{Machine: cs.name.value, Note: cs.note.value, Disks: paths}
	if hw := m.this.Hardware; hw.UUID != "" || hw.Serial != "" || len(hw.MACs) > 0 {
		req.Hardware = &hw
	}
	if _, err := job.CheckCapture(req); err != nil {
		m.err = err.Error()
		return nil
	}
	ctx, cancel := context.WithCancel(m.ctx)
	m.run = runScreen{tracker: progress.NewTracker(), cancel: cancel, running: true, started: m.opt.Now(), done: make(chan struct{})}
	m.repo.notes.Set(m.run.tracker)
	m.goTo(stepRun)
	r, tr, done := m.r, m.run.tracker, m.run.done
	return tea.Batch(tick(), func() tea.Msg {
		defer close(done)
		res, err := job.Capture(ctx, r, req, tr)
		return capturedMsg{res, err}
	})
}

func (m *Model) captured(msg capturedMsg) (tea.Model, tea.Cmd) {
	rs := &m.run
	m.take()
	rs.running, rs.askStop, rs.capRes, rs.err, rs.ended = false, false, msg.res, msg.err, m.opt.Now()
	cmd := m.saveReport("capture")
	m.goTo(stepDone)
	return m, cmd
}
