// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/smb"
)

// filesScreen replays the chosen file snapshot onto the restored disk.
type filesScreen struct {
	tracker  *progress.Tracker
	cancel   context.CancelFunc
	running  bool
	stopping bool
	status   progress.Status
	notes    []progress.Note
	sum      *files.ReplaySummary
	where    *job.ReplayTarget
	err      error
	windows  bool          // the snapshot holds Windows paths (C:\Users\jane)
	done     chan struct{} // closed when the replay's goroutine returned
}

type replayedMsg struct {
	sum     *files.ReplaySummary
	where   *job.ReplayTarget
	err     error
	windows bool
}

// startReplay replays the file snapshot chosen at the point-in-time step.
func (m *Model) startReplay() tea.Cmd {
	id := m.point.chosenFiles().ID
	ctx, cancel := context.WithCancel(m.ctx)
	m.files = filesScreen{tracker: progress.NewTracker(), cancel: cancel, running: true, done: make(chan struct{})}
	m.repo.notes.Set(m.files.tracker)
	m.goTo(stepFiles)
	r, plan, tr, load, done := m.r, m.targ.plan, m.files.tracker, m.opt.LoadFS, m.files.done
	// The run's ticks have stopped (it is over): start the replay's.
	return tea.Batch(tick(), func() tea.Msg {
		defer close(done)
		snap, err := r.LoadSnapshot(ctx, id)
		if err != nil {
			return replayedMsg{err: err}
		}
		sum, where, err := plan.ReplayOnto(ctx, snap, job.ReplayOptions{Progress: tr, LoadFS: load})
		win := snap.Files != nil && slices.ContainsFunc(snap.Files.Paths, func(p string) bool { return files.Drive(p) != "" })
		return replayedMsg{sum, where, err, win}
	})
}

func (m *Model) replayed(msg replayedMsg) (tea.Model, tea.Cmd) {
	fs := &m.files
	fs.running, fs.sum, fs.where, fs.err, fs.windows = false, msg.sum, msg.where, msg.err, msg.windows
	fs.status = takeStatus(fs.tracker, &fs.notes)
	return m, nil
}

func (m *Model) filesView() ([]string, string) {
	c := m.opt.Color
	fs := &m.files
	f := m.point.chosenFiles()
	b := []string{m.banner(), ""}
	b = append(b, wrap(fmt.Sprintf("The image is restored. Now the user files of %s backed up %s (snapshot %s), which are newer than the image.",
		m.point.machine.Name, day(*f), repo.ShortID(f.ID)), m.w-2)...)
	b = append(b, "")
	switch {
	case fs.running:
		s := fs.status
		what := "Replaying"
		if fs.stopping {
			what = "Stopping the replay (what is written stays; a replay run again finishes it)"
		}
		b = append(b, fmt.Sprintf("%s: %d entries looked at, %s written", what, s.Get(progress.Items), human.Bytes(s.Get(progress.Written))))
		b = append(b, "", "Recent notes:")
		b = append(b, m.notesView(fs.notes)...)
		return b, "Ctrl+C stop the replay"
	case fs.err == nil:
		s := fs.sum
		b = append(b, stOK.render(fmt.Sprintf("Replayed onto partition %d: %d added, %d changed, %d deleted, %d unchanged.",
			fs.where.Partition.Index, s.Added, s.Changed, s.Deleted, s.Unchanged), c))
		b = append(b, fmt.Sprintf("%s written, %s reused from the image, %s fetched.", human.Bytes(s.Written), human.Bytes(s.Reused), human.Bytes(s.Fetched)))
		for i, p := range s.Problems {
			if i == 3 {
				b = append(b, fmt.Sprintf("and %d more problems", len(s.Problems)-3))
				break
			}
			b = append(b, stWarn.render("WARN "+p, c))
		}
	case errors.Is(fs.err, job.ErrNoReplayTarget) || errors.Is(fs.err, context.Canceled):
		b = append(b, m.replayByHand(f)...)
	default:
		for _, l := range wrap("The replay failed: "+job.OneLine(fs.err.Error()), m.w-4) {
			b = append(b, stErr.render(l, c))
		}
		b = append(b, "The disk image is restored and verified; run the replay again from the start, or from the restored system.")
	}
	return b, "Enter go on"
}

// replayByHand says why the replay did not run and how to run it by hand:
// for Linux user files on the restored system as root (--into /); for
// Windows user files from the restored Windows as an administrator (--into
// C:\), or here onto the volume mounted with ntfs3 when it is clean, as
// the replay would have mounted it.
func (m *Model) replayByHand(f *repo.Head) []string {
	c := m.opt.Color
	var b []string
	cmd := fmt.Sprintf("rewind files replay --repo %s --machine %s --snapshot %s", smb.Redact(m.repo.url.value), m.point.machine.Name, repo.ShortID(f.ID))
	say := func(s string, st ...style) {
		for _, l := range wrap(s, m.w-4) {
			if len(st) > 0 {
				l = st[0].render(l, c)
			}
			b = append(b, l)
		}
	}
	indent := func(s string) {
		for _, l := range wrap(s, m.w-6) {
			b = append(b, "  "+l)
		}
	}
	why := job.OneLine(m.files.err.Error())
	if !m.files.windows {
		say(why+". Start the restored system, then run there as root:", stWarn)
		b = append(b, "")
		indent(cmd + " --into /")
		b = append(b, "", "It brings back what changed since the image.")
		return b
	}
	say(why+". Start the restored Windows, then run there as an administrator:", stWarn)
	b = append(b, "")
	indent(cmd + ` --into C:\`)
	b = append(b, "")
	say("Or, if that Windows volume is clean (not hibernated, not BitLocker), from this environment's shell: mount -t ntfs3 -o iocharset=utf8 /dev/PARTITION /mnt and the same command with --into /mnt. It brings back what changed since the image.")
	return b
}

func (m *Model) filesKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if k.Type == tea.KeyEnter && !m.files.running {
		m.goTo(stepDone)
	}
	return m, nil
}
