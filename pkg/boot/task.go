// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// unattended runs a restore or capture as settings describe it, prints the
// result line, and does settings.After. Any problem is returned before
// anything is written.
func (b *booter) unattended(ctx context.Context, s config.Settings) error {
	if err := s.Check(); err != nil {
		return err
	}
	target, err := b.waitTarget(ctx, s.Target)
	if err != nil {
		return err
	}
	if s.Task == config.TaskRestore {
		medium := ""
		if b.medium != nil {
			medium = b.medium.Disk
		}
		if err := b.sys.CheckWritable(ctx, target.Path, medium); err != nil {
			return fmt.Errorf("rewind.target=%s: %w", s.Target, err)
		}
	}
	if pw, err := b.sys.ReadFile(s.PasswordFile); err != nil {
		return fmt.Errorf("password_file %s cannot be read (%v); put the NAS password in that file on the boot medium", s.PasswordFile, err)
	} else if len(bytes.TrimSpace(pw)) == 0 {
		return fmt.Errorf("password_file %s is empty; put the NAS password in it", s.PasswordFile)
	}

	t := taskFor(s, target.Path)
	t.LoadFS = b.opts.LoadFS
	if b.medium != nil {
		t.BootMedia = []string{"/dev/" + b.medium.Disk}
	}
	if s.Task == config.TaskCapture {
		b.say("capture: %s into machine %s", target, s.Machine)
	} else {
		b.say("restore: machine %s image %s, then user files %s, onto %s", s.Machine, s.Image, s.Files, target)
	}
	start := time.Now()
	tr := progress.NewTracker()
	stop := b.follow(tr)
	summary, err := b.opts.Task(ctx, t, tr)
	stop()
	if err != nil {
		return fmt.Errorf("unattended %s onto %s failed: %w", s.Task, target.Name, err)
	}

	res := map[string]any{
		"task": s.Task, "ok": true, "machine": s.Machine,
		"target": target.Path, "serial": target.Serial, "seconds": time.Since(start).Seconds(),
	}
	if s.Task == config.TaskRestore {
		res["image"] = s.Image
	}
	if summary != nil {
		res["summary"] = summary
	}
	line, _ := json.Marshal(res)
	b.say("result %s", line)
	b.report(ctx, s.Report, line) // tell rewind pxe serve (rewind.report=), see report.go

	switch s.After {
	case config.AfterReboot:
		b.say("rebooting")
		return b.sys.Reboot()
	case config.AfterPoweroff:
		b.say("powering off")
		return b.sys.PowerOff()
	}
	return nil
}

// waitTarget resolves rewind.target, giving disks that are still being
// discovered (a slow controller, a USB disk) up to DiskWait to appear.
func (b *booter) waitTarget(ctx context.Context, spec string) (Disk, error) {
	medium := ""
	if b.medium != nil {
		medium = b.medium.Disk
	}
	deadline := time.Now().Add(b.opts.DiskWait)
	for {
		disks, err := b.sys.ListDisks(ctx)
		if err != nil {
			return Disk{}, fmt.Errorf("listing disks: %w", err)
		}
		target, err := ResolveTarget(spec, disks, medium)
		// "only" must not pick the first of several disks just because
		// the others are late: wait for the disk list to settle.
		if err == nil && spec != "only" || time.Now().After(deadline) || ctx.Err() != nil {
			return target, err
		}
		if spec == "only" && err == nil {
			if again, _ := b.sys.ListDisks(ctx); len(again) == len(disks) && b.settled(ctx) {
				return target, nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
		b.moreModules(ctx)
	}
}

// settled reports whether no new module loads after a short pause.
func (b *booter) settled(ctx context.Context) bool {
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	mods, _ := b.sys.LoadModules(ctx)
	if len(mods) > 0 {
		b.say("modules: loaded %d more: %s", len(mods), strings.Join(mods, " "))
		return false
	}
	return true
}

// Task is an unattended task as the settings describe it, its target
// disk found.
type Task struct {
	Kind    config.Task // restore or capture
	Repo    job.Repo    // the URL with the user, and the password file
	Machine string
	Image   string // restore: an image ID or "latest"
	// Files is the file snapshot a restore replays after the image:
	// "latest", "none" or an ID (config.Settings.Files).
	Files     string
	Target    string // the disk's device path
	BootMedia []string
	// LoadFS loads a filesystem's module before the replay mounts it;
	// nil: none.
	LoadFS func(fstype string) error
}

// taskFor is the task settings s describe, onto (or from) target.
func taskFor(s config.Settings, target string) Task {
	return Task{
		Kind: s.Task, Repo: job.Repo{URL: withUser(s.Repo, s.User), PasswordFile: s.PasswordFile},
		Machine: s.Machine, Image: s.Image, Files: s.Files, Target: target,
	}
}

// RunTask runs an unattended task through pkg/job, as the wizard and the
// command line do: the restore plan checks the target, which the settings
// name (they are the confirmation); a report is saved in the repository
// whatever the outcome. It returns the result's summary.
//
// A restore then replays the user files t.Files names (job.FilesToReplay,
// chosen before the disk is written: a snapshot named that is not there is
// refused then). Nothing to replay is a success that says so. A replay
// refused or failed fails the task, with the summary of the verified image
// restore and what happened to the files: the restored system must not
// start and be used as if its user files were the newest (a replay run
// later would put the snapshot's versions over that work), and after=
// reboot would start it unseen.
func RunTask(ctx context.Context, t Task, rep progress.Reporter) (summary any, err error) {
	start := time.Now()
	r, err := job.Open(ctx, t.Repo, rep)
	if err != nil {
		return nil, err
	}
	defer job.CloseRepo(r)
	report := job.Report{Task: string(t.Kind), Machine: t.Machine, Start: start, Targets: []string{t.Target}}
	defer func() {
		report.Err, report.Result = err, summary
		if name, rerr := job.SaveReport(ctx, r, report); rerr != nil {
			rep.Note(progress.Warning, "the report was not saved: "+job.OneLine(rerr.Error()))
		} else {
			rep.Note(progress.Info, "report saved as "+name)
		}
	}()
	switch t.Kind {
	case config.TaskCapture:
		res, err := job.Capture(ctx, r, job.CaptureRequest{Machine: t.Machine, Note: "unattended capture from the boot environment",
			Disks: []string{t.Target}, Hardware: job.ThisHardware()}, rep)
		if err != nil {
			return nil, err
		}
		report.Image = res.Snapshot.ID().String()
		return captureSummary{Image: report.Image, Stats: res.Stats, Warnings: res.Warnings}, nil
	case config.TaskRestore:
		plan, err := job.PlanRestore(ctx, r, job.RestoreRequest{Machine: t.Machine, Image: t.Image, Targets: []string{t.Target}, BootMedia: t.BootMedia})
		if err != nil {
			return nil, err
		}
		defer plan.Close()
		report.Image = plan.Snap.ID().String()
		fsnap, why, err := job.FilesToReplay(ctx, r, t.Machine, plan.Snap, t.Files)
		if err != nil {
			return nil, err
		}
		plan.ConfirmAll()
		sum, err := plan.Run(ctx, job.RestoreOptions{Progress: rep})
		if err != nil {
			return nil, err
		}
		rs := restoreSummary{Image: report.Image, Written: sum.Written, Skipped: sum.Skipped, Fetched: sum.Fetched, Verified: sum.Verified, Verification: job.Verification(sum)}
		if fsnap == nil {
			rs.Files = &filesSummary{Why: why}
			rep.Note(progress.Info, why)
			return rs, nil
		}
		rs.Files = &filesSummary{Snapshot: fsnap.ID().String()}
		fsum, where, err := plan.ReplayOnto(ctx, fsnap, job.ReplayOptions{Progress: rep, LoadFS: t.LoadFS})
		rs.Files.ReplaySummary = fsum
		if err != nil {
			rs.Files.Why = job.OneLine(err.Error())
			done := "restored and verified"
			if !sum.Verified {
				done = "restored (not read back)"
			}
			return rs, fmt.Errorf("image %s was %s, but the user files %s were NOT replayed: %w",
				repo.ShortID(plan.Snap.ID()), done, repo.ShortID(fsnap.ID()), err)
		}
		rs.Files.Replayed, rs.Files.Partition = true, where.Partition.Index
		return rs, nil
	}
	return nil, fmt.Errorf("task %q is not unattended", t.Kind)
}

// The summaries in the result line and the report.
type (
	restoreSummary struct {
		Image    string `json:"image"`
		Written  int64  `json:"written_bytes"`
		Skipped  int64  `json:"skipped_bytes"`
		Fetched  int64  `json:"fetched_bytes"`
		Verified bool   `json:"verified"`
		// Verification is what the read-back read (job.Verification).
		Verification string `json:"verification"`
		// Files is what became of the user files after the image.
		Files *filesSummary `json:"files,omitempty"`
	}
	// filesSummary is the replay of a file snapshot after the image: its
	// counts (added, changed, deleted, unchanged, bytes written, fetched),
	// or why nothing was replayed.
	filesSummary struct {
		Snapshot  string `json:"snapshot,omitempty"`
		Replayed  bool   `json:"replayed"`
		Partition int    `json:"partition,omitempty"` // of the root filesystem replayed into
		Why       string `json:"why,omitempty"`
		*files.ReplaySummary
	}
	captureSummary struct {
		Image    string          `json:"image"`
		Stats    repo.ImageStats `json:"stats"`
		Warnings []string        `json:"warnings,omitempty"`
	}
)

// follow prints a task's progress on the console: its notes as they come,
// and where it is every 10 seconds. The returned stop ends it (and prints
// the last notes).
func (b *booter) follow(tr *progress.Tracker) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			var now time.Time
			select {
			case <-done:
				b.notes(tr.Status())
				return
			case now = <-tick.C:
			}
			s := tr.Status()
			b.notes(s)
			if now.Sub(last) >= 10*time.Second && s.Phase != "" {
				last = now
				line := fmt.Sprintf("%s: %s", s.Phase, human.Bytes(s.Get(progress.Done)))
				if s.Total > 0 {
					line = fmt.Sprintf("%s: %.0f%% of %s", s.Phase, 100*float64(s.Get(progress.Done))/float64(s.Total), human.Bytes(s.Total))
				}
				b.say("%s", line)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (b *booter) notes(s progress.Status) {
	for _, n := range s.Notes {
		b.say("%s: %s", n.Level, n.Text)
	}
	if s.Dropped > 0 {
		b.say("warning: %d more notes were left out", s.Dropped)
	}
}

// withUser puts user into an smb:// URL that names none.
func withUser(repo, user string) string {
	if user == "" {
		return repo
	}
	u, err := url.Parse(repo)
	if err != nil || u.Scheme == "" || u.User != nil {
		return repo
	}
	u.User = url.User(user)
	return u.String()
}
