// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// step is a screen of the wizard.
type step int

const (
	stepHome    step = iota // this machine, and the menu
	stepNetwork             // links and addresses
	stepRepo                // repository and password
	stepMachine             // which machine's backups
	stepPoint               // which image and file snapshot
	stepTargets             // which local disk for each image disk
	stepConfirm             // type the target's name
	stepRun                 // restore or capture running, then its outcome
	stepFiles               // user files after the image
	stepDone                // what was done; reboot, power off, shell
	stepCapture             // capture: name, note, disks
	stepInfo                // a message, then back home
	stepSome                // some files: backup, path, folder; restore
)

// flow is what the technician chose in the menu.
type flow int

const (
	flowRestore flow = iota
	flowCapture
	flowFiles // restore some files into a folder
)

// Model is the wizard's state. Update and View follow bubbletea's rules:
// Update never blocks (I/O runs in tea.Cmds, whose results come back as
// messages), View only reads.
type Model struct {
	ctx  context.Context
	opt  Options
	w, h int

	step step
	back []step // the steps before this one, for Esc
	flow flow
	exit Exit
	err  string // the current screen's error, in plain words
	// notice is a warning that stays on every screen until the start:
	// a password file others may read.
	notice string
	busy   string // what the wizard waits for ("connecting to ..."), or ""
	info   []string
	quitQ  bool // ctrl+c asked once

	this  job.Machine
	disks []localDisk // this machine's disks, read with this
	runs  int         // restores and captures started: tags their reports
	menu  menu
	net   netScreen
	repo  repoScreen
	r     *repo.Repository
	mach  machineScreen
	point pointScreen
	targ  targetScreen
	conf  confirmScreen
	run   runScreen
	files filesScreen
	done  doneScreen
	capt  captureScreen
	some  someScreen
}

// inspectMsg is this machine read again.
type inspectMsg struct {
	this  job.Machine
	disks []localDisk
}

// inspect reads this machine again, in the background.
func (m *Model) inspect() tea.Cmd {
	m.busy = "looking at this machine's disks"
	opt := m.opt
	return func() tea.Msg {
		this := opt.Inspect()
		return inspectMsg{this, localDisks(opt, this)}
	}
}

// New returns the wizard's first screen for opt.
func New(ctx context.Context, opt Options) *Model {
	opt = opt.withDefaults()
	m := &Model{ctx: ctx, opt: opt, w: 80, h: 25}
	m.this = opt.Inspect()
	m.disks = localDisks(opt, m.this)
	m.menu = homeMenu(opt.Boot)
	m.repo = newRepoScreen(opt.Repo)
	return m
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// close releases what the wizard holds open, once a restore, capture or
// replay still running has stopped (it is cancelled; it may be mid-write).
func (m *Model) close() {
	for _, j := range []struct {
		cancel context.CancelFunc
		done   chan struct{}
	}{{m.run.cancel, m.run.done}, {m.files.cancel, m.files.done}, {m.some.cancel, m.some.done}} {
		if j.cancel == nil {
			continue
		}
		j.cancel()
		select {
		case <-j.done:
		case <-time.After(time.Minute):
		}
	}
	if m.targ.plan != nil {
		m.targ.plan.Close()
		m.targ.plan = nil
	}
	if m.r != nil {
		job.CloseRepo(m.r)
		m.r = nil
	}
}

// goTo shows step s, remembering this one for Esc.
func (m *Model) goTo(s step) {
	m.back = append(m.back, m.step)
	m.step, m.err, m.busy = s, "", ""
}

// goBack returns to the previous step.
func (m *Model) goBack() {
	if len(m.back) == 0 {
		return
	}
	m.step = m.back[len(m.back)-1]
	m.back = m.back[:len(m.back)-1]
	m.err, m.busy = "", ""
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		// A serial line has no size (0×0): keep 80×25 then.
		if msg.Width > 0 && msg.Height > 0 {
			m.w, m.h = max(msg.Width, 40), max(msg.Height, 12)
		}
		return m, nil
	case tea.KeyMsg:
		if msg.Type == tea.KeyCtrlC {
			return m.ctrlC()
		}
		m.quitQ = false
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			return m.keysTogether(msg.Runes)
		}
		if m.busy != "" && m.step != stepRun {
			return m, nil // a connection or listing is under way
		}
		return m.key(msg)
	}
	return m.result(msg)
}

// keysTogether handles keys that arrived together as one press each.
// bubbletea hands the runes of one read over as one key ("jj"), which a
// serial line or a quick typist produces; a menu would take it for no key
// at all. A field gets the same text either way. Keys after one that
// starts a connection or a listing are dropped, as they would have been
// one at a time.
func (m *Model) keysTogether(runes []rune) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	for _, r := range runes {
		if m.busy != "" && m.step != stepRun {
			break
		}
		_, cmd := m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		cmds = append(cmds, cmd)
	}
	return m, tea.Batch(cmds...)
}

// ctrlC leaves the wizard, asking first while a restore runs (where it
// stops the restore) and on a second press otherwise.
func (m *Model) ctrlC() (tea.Model, tea.Cmd) {
	if m.step == stepRun && m.run.running {
		m.run.askStop = true
		return m, nil
	}
	if m.some.running {
		m.some.stopping = true
		m.some.cancel()
		return m, nil
	}
	if m.files.running {
		// A replay is cut off safely (files are renamed into place whole);
		// the wizard waits for it to stop.
		m.files.stopping = true
		m.files.cancel()
		return m, nil
	}
	if !m.quitQ {
		m.quitQ = true
		return m, nil
	}
	m.exit = ExitQuit
	return m, tea.Quit
}

// key handles a key on the current screen.
func (m *Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch m.step {
	case stepHome:
		return m.homeKey(k)
	case stepNetwork:
		return m.netKey(k)
	case stepRepo:
		return m.repoKey(k)
	case stepMachine:
		return m.machineKey(k)
	case stepPoint:
		return m.pointKey(k)
	case stepTargets:
		return m.targetKey(k)
	case stepConfirm:
		return m.confirmKey(k)
	case stepRun:
		return m.runKey(k)
	case stepFiles:
		return m.filesKey(k)
	case stepDone:
		return m.doneKey(k)
	case stepCapture:
		return m.captureKey(k)
	case stepSome:
		return m.someKey(k)
	case stepInfo:
		if k.Type == tea.KeyEnter || k.Type == tea.KeyEsc {
			m.goBack()
		}
	}
	return m, nil
}

// result handles the messages that tea.Cmds send back.
func (m *Model) result(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case netMsg:
		return m.netResult(msg)
	case connectedMsg:
		return m.connected(msg)
	case machinesMsg:
		return m.machinesListed(msg)
	case imageMsg:
		return m.imageLoaded(msg)
	case planMsg:
		return m.planned(msg)
	case tickMsg:
		return m.tick(msg)
	case restoredMsg:
		return m.restored(msg)
	case capturedMsg:
		return m.captured(msg)
	case replayedMsg:
		return m.replayed(msg)
	case someDoneMsg:
		return m.someDone(msg)
	case reportMsg:
		if msg.run == m.runs {
			m.done.report, m.done.reportErr = msg.name, msg.err
		}
	case inspectMsg:
		m.busy = ""
		m.this, m.disks = msg.this, msg.disks
	}
	return m, nil
}

// afterRepo is the step after the repository is open.
func (m *Model) afterRepo() (tea.Model, tea.Cmd) {
	m.busy = "reading the repository's machines"
	return m, m.listMachines()
}

// title is the screen's name and place in the flow.
func (m *Model) title() (string, string) {
	names := map[step]string{
		stepHome: "This machine", stepNetwork: "Network", stepRepo: "Repository",
		stepMachine: "Machine", stepPoint: "Point in time", stepTargets: "Target disks",
		stepConfirm: "Confirm", stepRun: "Restore", stepFiles: "User files", stepDone: "Done",
		stepCapture: "Capture this machine", stepInfo: "rewind", stepSome: "Restore some files",
	}
	name := names[m.step]
	if m.step == stepRun && m.flow == flowCapture {
		name = "Capture"
	}
	order := []step{stepHome, stepNetwork, stepRepo, stepMachine, stepPoint, stepTargets, stepConfirm, stepRun, stepFiles, stepDone}
	switch m.flow {
	case flowCapture:
		order = []step{stepHome, stepNetwork, stepRepo, stepCapture, stepRun, stepDone}
	case flowFiles:
		order = []step{stepHome, stepNetwork, stepRepo, stepMachine, stepSome}
	}
	if m.opt.Network == nil {
		order = append(order[:1:1], order[2:]...)
	}
	for i, s := range order {
		if s == m.step {
			return name, fmt.Sprintf("step %d of %d", i+1, len(order))
		}
	}
	return name, ""
}

// View implements tea.Model: a title line, the screen, its error or what
// it waits for, and a line of key hints.
func (m *Model) View() string {
	c := m.opt.Color
	name, where := m.title()
	head := " rewind " + m.opt.Version + " - " + name
	top := stTitle.render(fit(head, m.w-len(where)-1)+where+" ", c)

	var body []string
	var hint string
	switch m.step {
	case stepHome:
		body, hint = m.homeView()
	case stepNetwork:
		body, hint = m.netView()
	case stepRepo:
		body, hint = m.repoView()
	case stepMachine:
		body, hint = m.machineView()
	case stepPoint:
		body, hint = m.pointView()
	case stepTargets:
		body, hint = m.targetView()
	case stepConfirm:
		body, hint = m.confirmView()
	case stepRun:
		body, hint = m.runView()
	case stepFiles:
		body, hint = m.filesView()
	case stepDone:
		body, hint = m.doneView()
	case stepCapture:
		body, hint = m.captureView()
	case stepSome:
		body, hint = m.someView()
	case stepInfo:
		for _, l := range m.info {
			body = append(body, wrap(l, m.w-2)...)
		}
		hint = "Enter/Esc back"
	}
	var foot []string
	if m.busy != "" {
		foot = append(foot, stHint.render("... "+m.busy, c))
	}
	if m.err != "" {
		for _, l := range wrap("! "+m.err, m.w-1) {
			foot = append(foot, stErr.render(l, c))
		}
	}
	if m.quitQ {
		foot = append(foot, stWarn.render("Press Ctrl+C again to leave the wizard.", c))
	}
	if m.notice != "" && m.step != stepHome {
		for _, l := range wrap("WARNING: "+m.notice, m.w-1) {
			foot = append(foot, stWarn.render(l, c))
		}
	}
	// Long plain lines (paths, file names) are wrapped; styled lines are
	// made to fit by their screens.
	var lines []string
	for _, l := range body {
		if !strings.Contains(l, "\x1b") && len(l) > m.w-2 {
			lines = append(lines, wrap(l, m.w-2)...)
		} else {
			lines = append(lines, l)
		}
	}
	body = lines
	room := m.h - 3 - len(foot)
	if len(body) > room {
		body = body[:max(room, 0)]
	}
	var b strings.Builder
	b.WriteString(top + "\n\n")
	for _, l := range body {
		b.WriteString(" " + l + "\n")
	}
	for i := len(body); i < room; i++ {
		b.WriteString("\n")
	}
	for _, l := range foot {
		b.WriteString(" " + l + "\n")
	}
	b.WriteString(stHint.render(fit(" "+hint, m.w-1), c))
	return b.String()
}
