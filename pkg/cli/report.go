// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/rewind-backup/rewind/pkg/job"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// saveReport stores a report of a finished task in the repository (--report),
// whatever the task's outcome. A report that cannot be saved is said on
// stderr; it does not change the task's outcome.
func saveReport(ctx context.Context, r *repo.Repository, o OS, task, machine string, start time.Time, taskErr error, image string, targets []string, result any) {
	name, err := job.SaveReport(ctx, r, job.Report{Task: task, Machine: machine, Start: start, Err: taskErr, Image: image, Targets: targets, Result: result})
	if err != nil {
		fmt.Fprintf(o.Stderr, "rewind: the report was not saved: %v\n", oneLine(err.Error()))
		return
	}
	fmt.Fprintf(o.Stderr, "rewind: report saved as %s\n", name)
}
