// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"
)

// confirmScreen has the technician type each target's name.
type confirmScreen struct {
	at    int // the target being confirmed
	typed field
}

func (m *Model) confirmView() ([]string, string) {
	c := m.opt.Color
	p := m.targ.plan
	b := []string{"This is what will be overwritten:", ""}
	for i := range p.Disks {
		for _, l := range wrap(p.Sentence(i), m.w-4) {
			b = append(b, "  "+l)
		}
	}
	if f := m.point.chosenFiles(); f != nil {
		b = append(b, "", fmt.Sprintf("Then the user files of %s (backed up %s).", m.point.machine.Name, day(*f)))
	}
	d := &p.Disks[m.conf.at]
	b = append(b, "", stWarn.render(fmt.Sprintf("Everything on %s will be replaced.", d.Device.Path()), c),
		fmt.Sprintf("To go on, type %s and press Enter:", d.ConfirmName()), "",
		"  "+m.conf.typed.view(true, m.w-6, c))
	return b, "Type the name  Enter confirm  Esc back (nothing is written)"
}

func (m *Model) confirmKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	cs := &m.conf
	p := m.targ.plan
	switch k.Type {
	case tea.KeyEsc:
		p.Close()
		m.targ.plan = nil
		m.targ.at = 0
		for i := range m.targ.choice {
			m.targ.choice[i] = -1
		}
		m.goBack()
		return m, nil
	case tea.KeyEnter:
		if err := p.Confirm(cs.at, cs.typed.value); err != nil {
			m.err = err.Error()
			cs.typed.value = ""
			return m, nil
		}
		m.err = ""
		cs.typed.value = ""
		if cs.at+1 < len(p.Disks) {
			cs.at++
			return m, nil
		}
		return m, m.startRestore()
	}
	cs.typed.key(k)
	return m, nil
}
