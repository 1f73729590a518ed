// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/restore"
)

// doneScreen says what was done and offers the ways out.
type doneScreen struct {
	menu      menu
	report    string
	reportErr error
}

const (
	miStart = "Back to the start"
)

func (m *Model) doneMenu() menu {
	if m.opt.Boot {
		return menu{items: []string{miReboot, miPowerOff, miShell, miStart}}
	}
	return menu{items: []string{miQuit, miStart}}
}

func (m *Model) doneView() ([]string, string) {
	c := m.opt.Color
	rs := &m.run
	if len(m.done.menu.items) == 0 {
		m.done.menu = m.doneMenu()
	}
	b := []string{m.banner(), ""}
	took := rs.ended.Sub(rs.started).Round(time.Second)
	switch {
	case m.flow == flowRestore && rs.err == nil:
		s := rs.sum
		b = append(b, fmt.Sprintf("Image %s of %s (%s) is on %s.", repo.ShortID(m.targ.snap.ID()), m.targ.snap.Machine,
			m.targ.snap.Time.Local().Format("2006-01-02 15:04"), strings.Join(m.targ.plan.Targets(), ", ")))
		b = append(b, fmt.Sprintf("%s written, %s already in place, %s fetched, in %s.", human.Bytes(s.Written), human.Bytes(s.Skipped), human.Bytes(s.Fetched), took))
		switch {
		case s.Verified && s.VerifiedAll:
			b = append(b, stOK.render(fmt.Sprintf("Verified: every chunk read back from the disk matches the image (%s).", human.Bytes(s.VerifiedBytes)), c))
		case s.Verified:
			b = append(b, stOK.render(fmt.Sprintf("Verified: what was written read back intact (%s); the rest checked in place.", human.Bytes(s.VerifiedBytes)), c))
		}
		if f := m.point.chosenFiles(); f != nil {
			if fs := m.files; fs.err == nil && fs.sum != nil {
				b = append(b, stOK.render(fmt.Sprintf("User files %s replayed: %d added, %d changed, %d deleted.", repo.ShortID(f.ID), fs.sum.Added, fs.sum.Changed, fs.sum.Deleted), c))
			} else {
				b = append(b, stWarn.render("User files "+repo.ShortID(f.ID)+": NOT replayed (see the previous screen).", c))
			}
		}
	case m.flow == flowCapture && rs.err == nil:
		res := rs.capRes
		b = append(b, fmt.Sprintf("Image %s of %s saved: %s read, %s stored anew, in %s.", repo.ShortID(res.Snapshot.ID()), m.capt.name.value,
			human.Bytes(res.Stats.ReadBytes), human.Bytes(res.Stats.NewBytes), took))
		for _, w := range res.Warnings {
			b = append(b, stWarn.render("WARN "+w, c))
		}
	default:
		what := "The restore failed"
		if m.flow == flowCapture {
			what = "The capture failed"
		}
		if errors.Is(rs.err, context.Canceled) {
			what = "Stopped"
		}
		for _, l := range wrap(what+": "+job.OneLine(rs.err.Error()), m.w-4) {
			b = append(b, stErr.render(l, c))
		}
		if m.flow == flowRestore && (errors.Is(rs.err, restore.ErrPartlyWritten) || errors.Is(rs.err, context.Canceled)) {
			b = append(b, "", "The target is partly written and will not start. Choose Back to the start and run the same restore again: it writes only what is still missing.")
		}
	}
	switch {
	case m.done.report != "":
		b = append(b, "Report saved in the repository as "+m.done.report+".")
	case m.done.reportErr != nil:
		b = append(b, stWarn.render("The report was not saved: "+job.OneLine(m.done.reportErr.Error()), c))
	}
	b = append(b, "")
	b = append(b, m.done.menu.view(c)...)
	return b, "Up/Down choose  Enter go on"
}

func (m *Model) doneKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if len(m.done.menu.items) == 0 {
		m.done.menu = m.doneMenu()
	}
	if m.done.menu.move(k) || k.Type != tea.KeyEnter {
		return m, nil
	}
	switch item := m.done.menu.items[m.done.menu.cur]; item {
	default:
		return m.leave(item)
	case miStart:
		if m.targ.plan != nil {
			m.targ.plan.Close()
			m.targ.plan = nil
		}
		m.step, m.back, m.err = stepHome, nil, ""
		m.done, m.run, m.files = doneScreen{}, runScreen{}, filesScreen{}
		m.runs++ // a late report of the last run is not this one's
		return m, m.inspect()
	}
}
