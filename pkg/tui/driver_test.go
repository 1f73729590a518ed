// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

var update = flag.Bool("update", false, "rewrite testdata/screens and docs/WIZARD.md from the screens the tests draw")

// screens is where golden screens live: an absolute path, as the tests
// change directory.
var screens string

func TestMain(m *testing.M) {
	time.Local = time.UTC // screens show times in local time
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	screens = filepath.Join(wd, "testdata", "screens")
	os.Exit(m.Run())
}

// driver is a small event loop for model tests: it feeds keys to the
// model and runs the commands Update returns in goroutines, as bubbletea
// does, feeding their messages back, until none is pending.
type driver struct {
	t       *testing.T
	m       *Model
	msgs    chan tea.Msg
	pending int
	quit    bool
}

func newDriver(t *testing.T, m *Model) *driver {
	return &driver{t: t, m: m, msgs: make(chan tea.Msg, 16)}
}

func (d *driver) do(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	d.pending++
	go func() { d.msgs <- cmd() }()
}

// settle handles messages until no command is pending.
func (d *driver) settle() {
	d.t.Helper()
	deadline := time.After(2 * time.Minute)
	for d.pending > 0 {
		select {
		case msg := <-d.msgs:
			d.pending--
			switch msg := msg.(type) {
			case nil:
			case tea.BatchMsg:
				for _, c := range msg {
					d.do(c)
				}
			case tea.QuitMsg:
				d.quit = true
			default:
				_, cmd := d.m.Update(msg)
				d.do(cmd)
			}
		case <-deadline:
			d.t.Fatalf("the wizard did not settle; screen:\n%s", d.screen())
		}
	}
}

// keys types each of ks: "enter", "esc", "up", "down", "tab", "space",
// "backspace", "ctrl+c", "ctrl+u", or text.
func (d *driver) keys(ks ...string) {
	d.t.Helper()
	for _, k := range ks {
		_, cmd := d.m.Update(keyMsg(k))
		d.do(cmd)
		d.settle()
	}
}

func keyMsg(k string) tea.KeyMsg {
	named := map[string]tea.KeyType{
		"enter": tea.KeyEnter, "esc": tea.KeyEsc, "up": tea.KeyUp, "down": tea.KeyDown,
		"tab": tea.KeyTab, "space": tea.KeySpace, "backspace": tea.KeyBackspace,
		"ctrl+c": tea.KeyCtrlC, "ctrl+u": tea.KeyCtrlU,
	}
	if t, ok := named[k]; ok {
		return tea.KeyMsg{Type: t}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// screen is the model's view without colours, trailing spaces trimmed.
func (d *driver) screen() string {
	lines := strings.Split(sgr.ReplaceAllString(d.m.View(), ""), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// want fails unless the screen shows each of parts.
func (d *driver) want(parts ...string) {
	d.t.Helper()
	s := d.screen()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			d.t.Fatalf("screen lacks %q:\n%s", p, s)
		}
	}
}

// golden compares the screen, with replace applied (old, new pairs: what
// differs between runs), with testdata/screens/name.txt, or writes it
// there with -update.
func (d *driver) golden(name string, replace ...string) {
	d.t.Helper()
	s := strings.NewReplacer(replace...).Replace(d.screen()) + "\n"
	p := filepath.Join(screens, name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			d.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			d.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		d.t.Fatalf("%v (go test ./pkg/tui -update writes it)", err)
	}
	if string(want) != s {
		d.t.Errorf("screen %s differs from %s (go test ./pkg/tui -update rewrites it if the change is right):\n--- want\n%s--- got\n%s", name, p, want, s)
	}
}

func regexpMust(re string) *regexp.Regexp { return regexp.MustCompile(re) }
