// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"
)

// A field is a one-line text input.
type field struct {
	label string
	value string
	mask  bool // a password: shown as '*'
	max   int  // longest value accepted
}

// key edits the field with k and reports whether k was an edit.
func (f *field) key(k tea.KeyMsg) bool {
	switch k.Type {
	case tea.KeyRunes, tea.KeySpace:
		s := string(k.Runes)
		if k.Type == tea.KeySpace {
			s = " "
		}
		if f.max == 0 || len(f.value)+len(s) <= f.max {
			f.value += s
		}
		return true
	case tea.KeyBackspace:
		if r := []rune(f.value); len(r) > 0 {
			f.value = string(r[:len(r)-1])
		}
		return true
	case tea.KeyCtrlU:
		f.value = ""
		return true
	}
	return false
}

// view shows the field, with a cursor when focused.
func (f *field) view(focused bool, width int, color bool) string {
	v := f.value
	if f.mask {
		v = strings.Repeat("*", len([]rune(v)))
	}
	w := max(width-len(f.label)-3, 8)
	if r := []rune(v); len(r) > w-1 {
		v = string(r[len(r)-(w-1):])
	}
	box := fit(v, w)
	if focused {
		box = stCursor.render(fit(v+"_", w), color)
	} else {
		box = "[" + strings.TrimRight(box, " ") + "]"
	}
	return f.label + ": " + box
}
