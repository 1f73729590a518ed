// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"fmt"
	"os"
	"path/filepath"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// localDisks lists the disks the wizard may show as targets: the test disk
// files, or the machine's disks (this.Disks) without the boot medium. Disks
// that must not be written are kept, with the reason, to be shown greyed.
// It reads each disk's partition table: call it outside Update and View.
func localDisks(opt Options, this job.Machine) []localDisk {
	var out []localDisk
	if len(opt.TestDisks) > 0 {
		for _, p := range opt.TestDisks {
			d := localDisk{Name: filepath.Base(p), Path: p, SectorSize: 512, Transport: "image file"}
			if fi, err := os.Stat(p); err != nil {
				d.Refusal = err.Error()
			} else {
				d.Size = fi.Size()
			}
			d.Contents = job.Contents(p)
			out = append(out, d)
		}
		return out
	}
	for _, d := range this.Disks {
		if d.BootMedium {
			continue
		}
		ld := localDisk{Name: d.Name, Path: d.Path, Model: d.Model, Serial: d.Serial, Size: d.Size, Refusal: d.Refusal, SectorSize: 512,
			Transport: job.Sys("/").Transport(d.Name), Contents: job.Contents(d.Path)}
		if dev, err := disk.Open(d.Path); err == nil {
			ld.SectorSize = dev.SectorSize()
			dev.Close()
		}
		out = append(out, ld)
	}
	return out
}

// targetScreen maps each of the image's disks to a local disk.
type targetScreen struct {
	snap   *repo.Snapshot
	disks  []localDisk
	choice []int // per image disk: index into disks; -1: not restored
	at     int   // the image disk being chosen for
	cur    int   // cursor: index into disks, len(disks) for "skip"
	plan   *job.RestorePlan
}

func newTargetScreen(snap *repo.Snapshot, disks []localDisk) targetScreen {
	ts := targetScreen{snap: snap, disks: disks, choice: make([]int, len(snap.Image.Disks))}
	for i := range ts.choice {
		ts.choice[i] = -1
	}
	ts.cur = ts.preselect(0)
	return ts
}

// why says why local disk j cannot take image disk i, or "".
func (ts *targetScreen) why(i, j int) string {
	src, d := ts.snap.Image.Disks[i], ts.disks[j]
	if d.Refusal != "" {
		return d.Refusal
	}
	for k, c := range ts.choice {
		if c == j && k != i {
			return fmt.Sprintf("chosen for image disk %d", k+1)
		}
	}
	if s := job.TooSmall(src, d.Size); s != "" {
		return s
	}
	if d.SectorSize != src.SectorSize && src.SectorSize != 0 {
		return fmt.Sprintf("it has %d-byte sectors, the image %d-byte ones: its partition table cannot be moved between them", d.SectorSize, src.SectorSize)
	}
	return ""
}

// preselect picks the best local disk for image disk i: the one with the
// same serial, else the smallest that fits.
func (ts *targetScreen) preselect(i int) int {
	src := ts.snap.Image.Disks[i]
	best := -1
	for j, d := range ts.disks {
		if ts.why(i, j) != "" {
			continue
		}
		if src.Serial != "" && d.Serial == src.Serial {
			return j
		}
		if best < 0 || d.Size < ts.disks[best].Size {
			best = j
		}
	}
	return max(best, 0)
}

func (m *Model) targetView() ([]string, string) {
	c := m.opt.Color
	ts := &m.targ
	src := ts.snap.Image.Disks[ts.at]
	b := []string{fmt.Sprintf("Image disk %d of %d: %s", ts.at+1, len(ts.choice), diskSummary(src)), "Restore it onto:", ""}
	for j, d := range ts.disks {
		line := d.line()
		if why := ts.why(ts.at, j); why != "" {
			if j == ts.cur {
				b = append(b, stCursor.render("> "+line+" ", c))
			} else {
				b = append(b, stDim.render("  "+line, c))
			}
			for _, l := range wrap("not usable: "+why, m.w-8) {
				b = append(b, stDim.render("      "+l, c))
			}
			continue
		}
		b = append(b, pickLine(line, j == ts.cur, true, c))
		if d.Contents != "" {
			for i, l := range wrap("now: "+d.Contents, m.w-10) {
				if i == 2 {
					break
				}
				b = append(b, "      "+l)
			}
		}
	}
	if len(ts.disks) == 0 {
		b = append(b, stWarn.render("No disk found to restore onto.", c))
	}
	if ts.at > 0 {
		b = append(b, pickLine("do not restore this disk (nor those after it)", ts.cur == len(ts.disks), true, c))
	}
	return b, "Up/Down choose  Enter use this disk  Esc back"
}

func (m *Model) targetKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	ts := &m.targ
	n := len(ts.disks)
	if ts.at > 0 {
		n++
	}
	switch k.Type {
	case tea.KeyEsc:
		if ts.at > 0 {
			ts.at--
			ts.cur = max(ts.choice[ts.at], 0)
			ts.choice[ts.at] = -1
			return m, nil
		}
		m.goBack()
	case tea.KeyUp:
		ts.cur = max(ts.cur-1, 0)
	case tea.KeyDown:
		ts.cur = min(ts.cur+1, max(n-1, 0))
	case tea.KeyEnter:
		if ts.cur >= len(ts.disks) { // skip this and the rest
			return m, m.plan()
		}
		if len(ts.disks) == 0 {
			return m, nil
		}
		if why := ts.why(ts.at, ts.cur); why != "" {
			m.err = ts.disks[ts.cur].Name + " cannot be used: " + why
			return m, nil
		}
		m.err = ""
		ts.choice[ts.at] = ts.cur
		if ts.at+1 < len(ts.choice) {
			ts.at++
			ts.cur = ts.preselect(ts.at)
			return m, nil
		}
		return m, m.plan()
	}
	return m, nil
}

type planMsg struct {
	plan *job.RestorePlan
	err  error
}

// plan makes the restore plan: the targets are checked again, by the plan.
func (m *Model) plan() tea.Cmd {
	ts := &m.targ
	req := job.RestoreRequest{Machine: ts.snap.Machine, Image: ts.snap.ID().String(), BootMedia: m.opt.BootMedia}
	for _, c := range ts.choice {
		if c < 0 {
			break
		}
		req.Targets = append(req.Targets, ts.disks[c].Path)
	}
	if ts.plan != nil {
		ts.plan.Close()
		ts.plan = nil
	}
	m.busy = "checking the target disks"
	r := m.r
	return func() tea.Msg {
		p, err := job.PlanRestore(m.ctx, r, req)
		return planMsg{p, err}
	}
}

func (m *Model) planned(msg planMsg) (tea.Model, tea.Cmd) {
	m.busy = ""
	if msg.err != nil {
		m.err = job.OneLine(msg.err.Error())
		m.targ.at = 0
		for i := range m.targ.choice {
			m.targ.choice[i] = -1
		}
		m.targ.cur = m.targ.preselect(0)
		return m, nil
	}
	m.targ.plan = msg.plan
	m.conf = confirmScreen{typed: field{label: "Type the disk's name", max: 64}}
	m.goTo(stepConfirm)
	return m, nil
}
