// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/smb"
)

// repoScreen asks where the repository is and the password.
type repoScreen struct {
	url, pw field
	pwFile  string // from the settings: the password is not asked
	focus   int
	// notes carries the repository's network retries to whatever screen
	// runs a job on it.
	notes progress.Relay
}

func newRepoScreen(spec job.Repo) repoScreen {
	return repoScreen{
		url:    field{label: "Repository", value: spec.URL, max: 300},
		pw:     field{label: "Password  ", mask: true, max: 256},
		pwFile: spec.PasswordFile,
	}
}

type connectedMsg struct {
	r     *repo.Repository
	err   error
	warns []string // about the password file
}

// needsPassword says whether the URL names a user and no password file
// was given.
func (rs *repoScreen) needsPassword() bool {
	u := rs.url.value
	return rs.pwFile == "" && strings.Contains(u, "://") && strings.Contains(strings.SplitN(u[strings.Index(u, "://")+3:], "/", 2)[0], "@")
}

func (m *Model) repoView() ([]string, string) {
	c := m.opt.Color
	rs := &m.repo
	b := []string{"Where are the backups? A folder, or smb://user@nas/share/path.", ""}
	b = append(b, rs.url.view(rs.focus == 0, m.w-4, c))
	switch {
	case rs.pwFile != "":
		b = append(b, "Password  : from the file "+rs.pwFile)
	case rs.needsPassword():
		b = append(b, rs.pw.view(rs.focus == 1, m.w-4, c))
	}
	return b, "Tab next field  Enter connect  Esc back"
}

func (m *Model) repoKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	rs := &m.repo
	fields := 1
	if rs.needsPassword() {
		fields = 2
	}
	switch k.Type {
	case tea.KeyEsc:
		m.goBack()
		return m, nil
	case tea.KeyTab, tea.KeyDown:
		rs.focus = (rs.focus + 1) % fields
		return m, nil
	case tea.KeyShiftTab, tea.KeyUp:
		rs.focus = (rs.focus + fields - 1) % fields
		return m, nil
	case tea.KeyEnter:
		if rs.focus == 0 && fields == 2 && rs.pw.value == "" {
			rs.focus = 1
			return m, nil
		}
		return m, m.connect()
	}
	if rs.focus == 0 {
		rs.url.key(k)
	} else {
		rs.pw.key(k)
	}
	return m, nil
}

// connect opens the repository in the background.
func (m *Model) connect() tea.Cmd {
	rs := &m.repo
	if strings.TrimSpace(rs.url.value) == "" {
		m.err = "type where the repository is first: a folder, or smb://user@nas/share/path"
		return nil
	}
	if m.r != nil {
		job.CloseRepo(m.r)
		m.r = nil
	}
	pw := rs.pw.value
	spec := job.Repo{URL: strings.TrimSpace(rs.url.value), PasswordFile: rs.pwFile,
		Password: func(string) (string, error) {
			if pw == "" {
				return "", errors.New("no password typed: type the NAS password")
			}
			return pw, nil
		}}
	m.busy = "connecting to " + smb.Redact(spec.URL)
	m.err = ""
	rep := &rs.notes
	return func() tea.Msg {
		var warns []string
		spec.Warn = func(w string) { warns = append(warns, w) }
		ctx, cancel := context.WithTimeout(m.ctx, 45*time.Second)
		defer cancel()
		r, err := m.opt.Open(ctx, spec, rep)
		return connectedMsg{r: r, err: err, warns: warns}
	}
}

func (m *Model) connected(msg connectedMsg) (tea.Model, tea.Cmd) {
	m.busy = ""
	if msg.err != nil {
		m.err = explainConnect(msg.err)
		m.repo.pw.value = ""
		return m, nil
	}
	m.r = msg.r
	m.repo.pw.value = "" // not kept longer than needed
	m.notice = strings.Join(msg.warns, "; ")
	return m.afterRepo()
}

// explainConnect says what failed and what to try.
func explainConnect(err error) string {
	msg := job.OneLine(err.Error())
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return msg + ". The NAS did not answer in time: check its address, that it is on, and the network step."
	case errors.As(err, &oe):
		return msg + ". The NAS cannot be reached: check its address (name or IP), that it is on, and the network step."
	case errors.Is(err, os.ErrNotExist) && !strings.Contains(msg, "://"):
		return msg + ". Check the folder."
	case errors.Is(err, store.ErrPermanent):
		return msg
	}
	return msg
}
