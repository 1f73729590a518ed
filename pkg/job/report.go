// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// Report is what SaveReport records of a finished task.
type Report struct {
	Task    string // "capture", "restore"
	Machine string
	Start   time.Time
	Err     error // the task's outcome
	Image   string
	Targets []string
	Result  any // the task's result, as JSON
}

// SaveReport stores a report of a finished task in the repository
// (reports/MACHINE/), whatever the task's outcome, and returns its name. It
// runs even when ctx is cancelled: a cancelled task deserves a report too.
func SaveReport(ctx context.Context, r *repo.Repository, rep Report) (string, error) {
	host, _ := os.Hostname()
	out := &repo.Report{
		Task: rep.Task, Machine: rep.Machine, Host: host, Time: rep.Start,
		Duration: repo.Duration(time.Since(rep.Start)), OK: rep.Err == nil,
		Image: rep.Image, Targets: rep.Targets,
	}
	if rep.Err != nil {
		out.Error = OneLine(rep.Err.Error())
	}
	if rep.Result != nil {
		if b, err := json.Marshal(rep.Result); err == nil {
			out.Result = b
		}
	}
	return r.SaveReport(context.WithoutCancel(ctx), out)
}
