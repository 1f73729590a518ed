// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// someScreen restores files or folders of a file backup into a folder, as
// rewind files restore does: nothing that exists there is touched.
type someScreen struct {
	machine  job.RepoMachine
	snap     int // index into machine.Files
	path     field
	into     field
	focus    int // 0 the backups, 1 the path, 2 the folder
	tracker  *progress.Tracker
	cancel   context.CancelFunc
	done     chan struct{}
	running  bool
	stopping bool
	sum      *files.ReplaySummary
	err      error
	finished bool
}

func newSomeScreen(x job.RepoMachine) someScreen {
	into := "/tmp/rewind-files"
	if wd, err := os.Getwd(); err == nil && wd != "/" {
		into = filepath.Join(wd, "rewind-files")
	}
	return someScreen{machine: x,
		path: field{label: "Restore  ", max: 1024},
		into: field{label: "Into     ", value: into, max: 1024},
	}
}

type someDoneMsg struct {
	sum *files.ReplaySummary
	err error
}

func (m *Model) someView() ([]string, string) {
	c := m.opt.Color
	ss := &m.some
	var b []string
	switch {
	case ss.running:
		s := ss.tracker.Status()
		what := "Restoring"
		if ss.stopping {
			what = "Stopping"
		}
		return append(b, fmt.Sprintf("%s: %d entries, %s written", what, s.Get(progress.Items), human.Bytes(s.Get(progress.Written)))), "Ctrl+C stop"
	case ss.finished && ss.err == nil:
		s := ss.sum
		for _, l := range wrap(fmt.Sprintf("Restored into %s: %d added (files and folders), %s written.", ss.into.value, s.Added, human.Bytes(s.Written)), m.w-4) {
			b = append(b, stOK.render(l, c))
		}
		for i, p := range s.Problems {
			if i == 5 {
				b = append(b, fmt.Sprintf("and %d more", len(s.Problems)-5))
				break
			}
			b = append(b, stWarn.render("WARN "+p, c))
		}
		return b, "Enter back to the start"
	case ss.finished:
		msg := job.OneLine(ss.err.Error())
		if errors.Is(ss.err, files.ErrExists) {
			msg += ": choose another folder, or empty this one from the shell"
		}
		for _, l := range wrap("The restore failed: "+msg, m.w-4) {
			b = append(b, stErr.render(l, c))
		}
		return b, "Enter back to the form"
	}
	b = append(b, "File backups of "+ss.machine.Name+":")
	rows := max(m.h-14, 3)
	top := max(0, ss.snap-rows+1)
	for i, h := range ss.machine.Files {
		if i < top || i >= top+rows {
			continue
		}
		b = append(b, pickLine(fmt.Sprintf("%s  %s", day(h), repo.ShortID(h.ID)), i == ss.snap, ss.focus == 0, c))
	}
	b = append(b, "", "A file or folder as it was backed up (/home/jane/Documents, C:\\Users\\jane\\Desktop);",
		"empty: everything the backup holds. It lands under the folder at its own path;",
		"nothing already there is replaced.", "",
		ss.path.view(ss.focus == 1, m.w-4, c), ss.into.view(ss.focus == 2, m.w-4, c))
	return b, "Tab move  Up/Down choose a backup  Enter restore  Esc back"
}

func (m *Model) someKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	ss := &m.some
	if ss.running {
		return m, nil
	}
	if ss.finished {
		if k.Type == tea.KeyEnter {
			if ss.err == nil {
				m.step, m.back, m.err = stepHome, nil, ""
				m.some = someScreen{}
				return m, nil
			}
			ss.finished, ss.err = false, nil
		}
		return m, nil
	}
	switch k.Type {
	case tea.KeyEsc:
		m.goBack()
		return m, nil
	case tea.KeyTab:
		ss.focus = (ss.focus + 1) % 3
		return m, nil
	case tea.KeyShiftTab:
		ss.focus = (ss.focus + 2) % 3
		return m, nil
	case tea.KeyEnter:
		return m, m.restoreSome()
	case tea.KeyUp, tea.KeyDown:
		if ss.focus == 0 {
			d := 1
			if k.Type == tea.KeyUp {
				d = -1
			}
			ss.snap = min(max(ss.snap+d, 0), len(ss.machine.Files)-1)
		}
		return m, nil
	}
	switch ss.focus {
	case 1:
		ss.path.key(k)
	case 2:
		ss.into.key(k)
	}
	return m, nil
}

// restoreSome restores the chosen path of the chosen backup into the
// folder, in the background.
func (m *Model) restoreSome() tea.Cmd {
	ss := &m.some
	into := strings.TrimSpace(ss.into.value)
	if !filepath.IsAbs(into) {
		m.err = "give the folder to restore into as a full path, like /mnt/usb/restored"
		return nil
	}
	var paths []string
	if p := strings.TrimSpace(ss.path.value); p != "" {
		paths = []string{p}
	}
	ctx, cancel := context.WithCancel(m.ctx)
	ss.tracker, ss.cancel, ss.done, ss.running, ss.stopping = progress.NewTracker(), cancel, make(chan struct{}), true, false
	m.repo.notes.Set(ss.tracker)
	m.err = ""
	r, tr, done, id := m.r, ss.tracker, ss.done, ss.machine.Files[ss.snap].ID
	return tea.Batch(tick(), func() tea.Msg {
		defer close(done)
		snap, err := r.LoadSnapshot(ctx, id)
		if err != nil {
			return someDoneMsg{err: err}
		}
		if err := os.MkdirAll(into, 0o755); err != nil {
			return someDoneMsg{err: fmt.Errorf("restoring into %s: %w", into, err)}
		}
		sum, err := files.Replay(ctx, r, snap, files.ReplayOptions{Into: into, Paths: paths, KeepDeleted: true, NoClobber: true, Progress: tr})
		return someDoneMsg{sum, err}
	})
}

func (m *Model) someDone(msg someDoneMsg) (tea.Model, tea.Cmd) {
	ss := &m.some
	ss.running, ss.finished, ss.sum, ss.err = false, true, msg.sum, msg.err
	return m, nil
}
