// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !linux

package job

import (
	"context"
	"errors"

	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// ReplayOnto is the boot environment's (Linux): elsewhere, replay with
// rewind files replay --into on the running system.
func (p *RestorePlan) ReplayOnto(ctx context.Context, fs *repo.Snapshot, opt ReplayOptions) (*files.ReplaySummary, *ReplayTarget, error) {
	return nil, nil, errors.New("replaying onto a restored disk works in the boot environment (Linux) only; run rewind files replay --into on the restored system")
}
