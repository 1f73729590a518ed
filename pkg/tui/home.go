// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/human"
)

// A menu is a list of choices with a cursor.
type menu struct {
	items []string
	cur   int
}

// move moves the cursor on up/down keys and reports whether k was one.
func (mn *menu) move(k tea.KeyMsg) bool {
	switch k.String() {
	case "up", "k":
		mn.cur = (mn.cur + len(mn.items) - 1) % max(len(mn.items), 1)
	case "down", "j":
		mn.cur = (mn.cur + 1) % max(len(mn.items), 1)
	case "home":
		mn.cur = 0
	case "end":
		mn.cur = max(len(mn.items)-1, 0)
	default:
		return false
	}
	return true
}

func (mn *menu) view(color bool) []string {
	var out []string
	for i, it := range mn.items {
		if i == mn.cur {
			out = append(out, stCursor.render("> "+it+" ", color))
		} else {
			out = append(out, "  "+it)
		}
	}
	return out
}

// The home menu's choices.
const (
	miRestore  = "Restore this machine"
	miFiles    = "Restore some files"
	miCapture  = "Capture this machine"
	miShell    = "Shell"
	miReboot   = "Reboot"
	miPowerOff = "Power off"
	miQuit     = "Quit"
)

func homeMenu(boot bool) menu {
	if boot {
		return menu{items: []string{miRestore, miFiles, miCapture, miShell, miReboot, miPowerOff}}
	}
	return menu{items: []string{miRestore, miFiles, miCapture, miQuit}}
}

// warnings are what the technician must see before anything else.
func (m *Model) warnings() []string {
	w := append([]string(nil), m.this.Warnings...)
	switch {
	case len(m.opt.TestDisks) > 0:
	case m.this.DiskErr != nil:
		w = append(w, "the disks could not be listed: "+m.this.DiskErr.Error())
	case len(m.disks) == 0:
		w = append(w, "no disk found to restore onto: check the disk's cable and the firmware's storage settings (AHCI, not RAID)")
	}
	return w
}

func (m *Model) homeView() ([]string, string) {
	c := m.opt.Color
	hw := m.this.Hardware
	var b []string
	id := strings.TrimSpace(hw.Vendor + " " + hw.Model)
	if id == "" {
		id = "unknown make and model"
	}
	if hw.Serial != "" {
		id += ", serial " + hw.Serial
	}
	b = append(b, "Machine: "+id)
	switch m.this.SecureBoot {
	case "on":
		b = append(b, "Secure Boot: on")
	case "off":
		b = append(b, "Secure Boot: off")
	}
	disks := m.disks
	if len(disks) == 0 {
		b = append(b, "Disks: none")
	}
	for i, d := range disks {
		label := "Disks: "
		if i > 0 {
			label = "       "
		}
		b = append(b, label+d.line())
		if i == 3 && len(disks) > 4 {
			b = append(b, fmt.Sprintf("       and %d more", len(disks)-4))
			break
		}
	}
	var links []string
	for _, l := range m.this.Links {
		s := l.Name + " " + l.MAC
		if !l.Carrier {
			s += " (no cable)"
		}
		links = append(links, s)
	}
	if len(links) == 0 {
		links = []string{"none found"}
	}
	b = append(b, "Network: "+strings.Join(links, ", "))
	if ws := m.warnings(); len(ws) > 0 {
		b = append(b, "")
		for _, w := range ws {
			for i, l := range wrap(w, m.w-12) {
				if i == 0 {
					b = append(b, stWarn.render("WARNING: "+l, c))
				} else {
					b = append(b, stWarn.render("         "+l, c))
				}
			}
		}
	}
	b = append(b, "", "What now?")
	b = append(b, m.menu.view(c)...)
	return b, "Up/Down choose  Enter go on  Ctrl+C twice leave"
}

func (m *Model) homeKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.menu.move(k) || k.Type != tea.KeyEnter {
		return m, nil
	}
	next := stepRepo
	if m.opt.Network != nil {
		next = stepNetwork
	}
	switch m.menu.items[m.menu.cur] {
	case miRestore:
		m.flow = flowRestore
		m.goTo(next)
	case miCapture:
		m.flow = flowCapture
		m.goTo(next)
	case miFiles:
		m.flow = flowFiles
		m.goTo(next)
	default:
		return m.leave(m.menu.items[m.menu.cur])
	}
	return m, nil
}

// leave ends the wizard with the way out that menu item names.
func (m *Model) leave(item string) (tea.Model, tea.Cmd) {
	exits := map[string]Exit{miShell: ExitShell, miReboot: ExitReboot, miPowerOff: ExitPowerOff, miQuit: ExitQuit}
	e, ok := exits[item]
	if !ok {
		return m, nil
	}
	m.exit = e
	return m, tea.Quit
}

// localDisk is a disk the wizard may offer.
type localDisk struct {
	Name, Path, Model, Serial string
	Transport                 string
	Size                      int64
	SectorSize                int
	Refusal                   string
	// Contents says what the disk holds now (job.Contents).
	Contents string
}

func (d localDisk) line() string {
	s := fmt.Sprintf("%-8s %9s", d.Name, human.Bytes(d.Size))
	if d.Transport != "" {
		s += "  " + d.Transport
	}
	if d.Model != "" {
		s += "  " + d.Model
	}
	if d.Serial != "" {
		s += "  serial " + d.Serial
	}
	return s
}
