// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"context"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/netcfg"
)

// netScreen shows the links' addresses and offers DHCP again or a static
// address.
type netScreen struct {
	static     bool // the static-address form is open
	link, cidr field
	gw         field
	focus      int
}

type netMsg struct {
	leases []netcfg.Lease
	err    error
}

func (m *Model) netView() ([]string, string) {
	c := m.opt.Color
	b := []string{"Network links and addresses:", ""}
	if len(m.opt.Leases) == 0 {
		b = append(b, stWarn.render("No address: DHCP got no answer on any wired link.", m.opt.Color),
			"Check the cable, then press r to ask again, or s to set an address by hand.")
	}
	for _, l := range m.opt.Leases {
		b = append(b, "  "+l.String())
	}
	if m.net.static {
		b = append(b, "", "Set an address by hand:")
		fs := []*field{&m.net.link, &m.net.cidr, &m.net.gw}
		for i, f := range fs {
			b = append(b, "  "+f.view(i == m.net.focus, 50, c))
		}
		return b, "Tab next field  Enter set  Esc cancel"
	}
	return b, "Enter go on  r ask DHCP again  s static address  Esc back"
}

func (m *Model) netKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.net.static {
		switch k.Type {
		case tea.KeyEsc:
			m.net.static = false
		case tea.KeyTab, tea.KeyDown:
			m.net.focus = (m.net.focus + 1) % 3
		case tea.KeyShiftTab, tea.KeyUp:
			m.net.focus = (m.net.focus + 2) % 3
		case tea.KeyEnter:
			link, cidr, gw := m.net.link.value, m.net.cidr.value, m.net.gw.value
			m.busy = "setting " + cidr + " on " + link
			return m, func() tea.Msg {
				ctx, cancel := context.WithTimeout(m.ctx, 20*time.Second)
				defer cancel()
				if err := m.opt.Static(ctx, link, cidr, gw); err != nil {
					return netMsg{err: err}
				}
				return netMsg{leases: []netcfg.Lease{{Link: link, Addr: cidr, Gateway: gw}}}
			}
		default:
			[]*field{&m.net.link, &m.net.cidr, &m.net.gw}[m.net.focus].key(k)
		}
		return m, nil
	}
	switch {
	case k.Type == tea.KeyEsc:
		m.goBack()
	case k.Type == tea.KeyEnter:
		m.goTo(stepRepo)
	case k.String() == "r":
		m.busy = "asking DHCP for an address"
		return m, func() tea.Msg {
			ls, err := m.opt.Network(m.ctx)
			return netMsg{leases: ls, err: err}
		}
	case k.String() == "s" && m.opt.Static != nil:
		m.net.static = true
		m.net.link = field{label: "Link     ", max: 15}
		if len(m.this.Links) > 0 {
			m.net.link.value = m.this.Links[0].Name
		}
		m.net.cidr = field{label: "Address  ", value: "192.168.1.250/24", max: 43}
		m.net.gw = field{label: "Gateway  ", max: 39}
		m.net.focus = 1
	}
	return m, nil
}

func (m *Model) netResult(msg netMsg) (tea.Model, tea.Cmd) {
	m.busy = ""
	if msg.err != nil {
		m.err = msg.err.Error()
	} else {
		m.err = ""
		m.net.static = false
	}
	if len(msg.leases) > 0 {
		m.opt.Leases = msg.leases
	}
	return m, nil
}
