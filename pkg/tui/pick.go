// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// machineScreen lists the repository's machines; typing filters them.
type machineScreen struct {
	all    []job.RepoMachine
	filter string
	cur    int // index into shown()
	pre    int // the preselected machine, index into all
}

type machinesMsg struct {
	ms  []job.RepoMachine
	err error
}

func (m *Model) listMachines() tea.Cmd {
	r := m.r
	here := m.this.Hardware
	var serials []string
	for _, d := range m.this.Disks {
		serials = append(serials, d.Serial)
	}
	return func() tea.Msg {
		ms, err := job.Machines(m.ctx, r, here, serials)
		return machinesMsg{ms, err}
	}
}

func (m *Model) machinesListed(msg machinesMsg) (tea.Model, tea.Cmd) {
	m.busy = ""
	if m.flow == flowCapture {
		// The list only names the machine; a new repository has none.
		m.startCapture(msg.ms)
		m.goTo(stepCapture)
		return m, nil
	}
	if msg.err != nil {
		m.err = "listing the repository's machines: " + job.OneLine(msg.err.Error())
		return m, nil
	}
	ms := &m.mach
	ms.all, ms.filter, ms.cur = nil, "", 0
	for _, x := range msg.ms {
		if len(x.Images) > 0 && m.flow == flowRestore || len(x.Files) > 0 && m.flow == flowFiles {
			ms.all = append(ms.all, x)
		}
	}
	if len(ms.all) == 0 {
		m.err = "the repository holds no disk image yet: capture a machine first"
		if m.flow == flowFiles {
			m.err = "the repository holds no file backup yet: run rewind files backup on the machines (see the README)"
		}
		return m, nil
	}
	// Preselect: the hardware match, else the name from the settings.
	best := -1
	for i, x := range ms.all {
		if x.Score >= job.SameMachine && (best < 0 || x.Score > ms.all[best].Score) {
			best = i
		}
	}
	if best < 0 {
		for i, x := range ms.all {
			if x.Name == m.opt.Machine {
				best = i
			}
		}
	}
	ms.pre = max(best, 0)
	ms.cur = ms.pre
	m.goTo(stepMachine)
	return m, nil
}

func (ms *machineScreen) shown() []int {
	var out []int
	f := strings.ToLower(ms.filter)
	for i, x := range ms.all {
		if f == "" || strings.Contains(strings.ToLower(x.Name), f) {
			out = append(out, i)
		}
	}
	return out
}

func day(h repo.Head) string { return h.Time.Local().Format("2006-01-02 15:04") }

func (m *Model) machineView() ([]string, string) {
	c := m.opt.Color
	ms := &m.mach
	b := []string{fmt.Sprintf("%-20s %-17s %-17s", "Machine", "Newest image", "Newest files"), ""}
	shown := ms.shown()
	top := max(0, ms.cur-(m.h-10))
	for k, i := range shown {
		if k < top {
			continue
		}
		x := ms.all[i]
		image, files := "-", "-"
		if len(x.Images) > 0 {
			image = day(x.Images[0])
		}
		if len(x.Files) > 0 {
			files = day(x.Files[0])
		}
		line := fmt.Sprintf("%-20s %-17s %-17s", fit(x.Name, 20), image, files)
		switch {
		case x.Score >= job.SameMachine:
			line += " this machine"
		case x.Score > 0:
			line += " same disk or NIC"
		}
		if k == ms.cur {
			b = append(b, stCursor.render("> "+line+" ", c))
		} else {
			b = append(b, "  "+line)
		}
	}
	if len(shown) == 0 {
		b = append(b, "  (no machine matches)")
	}
	b = append(b, "", "Filter: "+ms.filter+"_")
	return b, "Type to filter  Up/Down choose  Enter go on  Esc back"
}

func (m *Model) machineKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	ms := &m.mach
	shown := ms.shown()
	switch k.Type {
	case tea.KeyEsc:
		if ms.filter != "" {
			ms.filter, ms.cur = "", ms.pre
			return m, nil
		}
		m.goBack()
	case tea.KeyUp:
		ms.cur = max(ms.cur-1, 0)
	case tea.KeyDown:
		ms.cur = min(ms.cur+1, max(len(shown)-1, 0))
	case tea.KeyBackspace:
		if ms.filter != "" {
			ms.filter = ms.filter[:len(ms.filter)-1]
			ms.cur = 0
			if ms.filter == "" {
				ms.cur = ms.pre
			}
		}
	case tea.KeyRunes:
		ms.filter += string(k.Runes)
		ms.cur = 0
	case tea.KeyEnter:
		if len(shown) == 0 {
			return m, nil
		}
		x := ms.all[shown[ms.cur]]
		if m.flow == flowFiles {
			m.some = newSomeScreen(x)
			m.goTo(stepSome)
			return m, nil
		}
		m.point = pointScreen{machine: x}
		m.point.files = x.FilesAfter(x.Images[0])
		m.goTo(stepPoint)
	}
	return m, nil
}

// pointScreen picks an image, then a file snapshot newer than it.
type pointScreen struct {
	machine job.RepoMachine
	img     int // index into machine.Images
	files   []repo.Head
	file    int // index into files; len(files): none
	focus   int // 0: images, 1: file snapshots
}

func (m *Model) pointView() ([]string, string) {
	c := m.opt.Color
	ps := &m.point
	b := []string{"Disk image of " + ps.machine.Name + ":"}
	rows := max((m.h-12)/2, 3)
	top := max(0, ps.img-rows+1)
	for i, h := range ps.machine.Images {
		if i < top || i >= top+rows {
			continue
		}
		line := fmt.Sprintf("%s  %s  %s", day(h), repo.ShortID(h.ID), fit(h.Note, 30))
		b = append(b, pickLine(line, i == ps.img, ps.focus == 0, c))
	}
	b = append(b, "", "Then user files backed up after that image:")
	opts := len(ps.files) + 1
	top = max(0, ps.file-rows+1)
	for i := 0; i < opts; i++ {
		if i < top || i >= top+rows {
			continue
		}
		line := "none: only the image"
		if i < len(ps.files) {
			line = fmt.Sprintf("%s  %s", day(ps.files[i]), repo.ShortID(ps.files[i].ID))
		}
		b = append(b, pickLine(line, i == ps.file, ps.focus == 1, c))
	}
	return b, "Up/Down choose  Tab image/files  Enter go on  Esc back"
}

// pickLine draws a list line: '>' marks the choice, and the cursor is on
// it when the list has the focus.
func pickLine(s string, chosen, focused bool, c bool) string {
	switch {
	case chosen && focused:
		return stCursor.render("> "+s+" ", c)
	case chosen:
		return "> " + s
	}
	return "  " + s
}

func (m *Model) pointKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	ps := &m.point
	switch k.Type {
	case tea.KeyEsc:
		m.goBack()
	case tea.KeyTab:
		ps.focus = 1 - ps.focus
	case tea.KeyUp, tea.KeyDown:
		d := 1
		if k.Type == tea.KeyUp {
			d = -1
		}
		if ps.focus == 0 {
			ps.img = min(max(ps.img+d, 0), len(ps.machine.Images)-1)
			ps.files = ps.machine.FilesAfter(ps.machine.Images[ps.img])
			ps.file = 0
		} else {
			ps.file = min(max(ps.file+d, 0), len(ps.files))
		}
	case tea.KeyEnter:
		m.busy = "reading image " + repo.ShortID(ps.machine.Images[ps.img].ID)
		id := ps.machine.Images[ps.img].ID
		r := m.r
		return m, func() tea.Msg {
			s, err := r.LoadSnapshot(m.ctx, id)
			return imageMsg{s, err}
		}
	}
	return m, nil
}

type imageMsg struct {
	snap *repo.Snapshot
	err  error
}

// chosenFiles is the file snapshot chosen, or nil.
func (ps *pointScreen) chosenFiles() *repo.Head {
	if ps.file < len(ps.files) {
		return &ps.files[ps.file]
	}
	return nil
}

func (m *Model) imageLoaded(msg imageMsg) (tea.Model, tea.Cmd) {
	m.busy = ""
	if msg.err != nil {
		m.err = job.OneLine(msg.err.Error()) + ". Pick another image, or run 'rewind check' on the repository."
		return m, nil
	}
	if msg.snap.Image == nil {
		m.err = "that snapshot is not a disk image"
		return m, nil
	}
	m.targ = newTargetScreen(msg.snap, m.disks)
	m.goTo(stepTargets)
	return m, nil
}

// human size of an image's disk, for the target list.
func diskSummary(d repo.Disk) string {
	var parts []string
	for _, p := range d.Partitions {
		s := fmt.Sprintf("%d", p.Index)
		if p.FS != "" {
			s += ":" + p.FS
		}
		if p.Label != "" {
			s += "(" + p.Label + ")"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%s %s, %s, partitions %s", d.Name, human.Bytes(d.Size), d.Table, strings.Join(parts, " "))
}
