// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// saveReport stores a report of a finished task in the repository (--report),
// whatever the task's outcome. A report that cannot be saved is said on
// stderr; it does not change the task's outcome.
func saveReport(ctx context.Context, r *repo.Repository, o OS, task, machine string, start time.Time, taskErr error, image string, targets []string, result any) {
	host, _ := os.Hostname()
	rep := &repo.Report{
		Task: task, Machine: machine, Host: host, Time: start,
		Duration: repo.Duration(time.Since(start)), OK: taskErr == nil,
		Image: image, Targets: targets,
	}
	if taskErr != nil {
		rep.Error = oneLine(taskErr.Error())
	}
	if b, err := json.Marshal(result); err == nil {
		rep.Result = b
	}
	name, err := r.SaveReport(context.WithoutCancel(ctx), rep)
	if err != nil {
		fmt.Fprintf(o.Stderr, "rewind: the report was not saved: %v\n", oneLine(err.Error()))
		return
	}
	fmt.Fprintf(o.Stderr, "rewind: report saved as %s\n", name)
}
