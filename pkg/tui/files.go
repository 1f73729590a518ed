// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// filesScreen is the user-files step after a restore.
type filesScreen struct{}

func (m *Model) filesView() ([]string, string) {
	c := m.opt.Color
	f := m.point.chosenFiles()
	b := []string{m.banner(), ""}
	b = append(b, wrap(fmt.Sprintf("The image is restored. The user files of %s backed up %s (snapshot %s) are newer than the image.", m.point.machine.Name, day(*f), repo.ShortID(f.ID)), m.w-2)...)
	b = append(b, "")
	for _, l := range wrap("Replaying them from the wizard is not in this version. Start the restored system, then run there (as root or an administrator):", m.w-4) {
		b = append(b, stWarn.render(l, c))
	}
	b = append(b, "")
	for _, l := range wrap(fmt.Sprintf("rewind files replay --repo %s --machine %s --snapshot %s --into /", redact(m.repo.url.value), m.point.machine.Name, repo.ShortID(f.ID)), m.w-6) {
		b = append(b, "  "+l)
	}
	b = append(b, "", "On Windows, --into C:\\ . The command brings back what changed since the image.")
	return b, "Enter go on"
}

func (m *Model) filesKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if k.Type == tea.KeyEnter {
		m.goTo(stepDone)
	}
	return m, nil
}
