// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/rewind-backup/rewind/pkg/store"
)

const reportsDir = "reports"

// Report records what an unattended (or any) capture or restore did, so
// that the technician can read it later from anywhere the repository is
// reachable: reports/<machine>/<time>-<task>-<random>.json. Reports name no
// chunks; check and prune leave them alone.
type Report struct {
	Version  int       `json:"version"` // 1
	Task     string    `json:"task"`    // "capture", "restore"
	Machine  string    `json:"machine"`
	Host     string    `json:"host,omitempty"` // the system that ran the task
	Time     time.Time `json:"time"`           // when it started
	Duration Duration  `json:"duration"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Image    string    `json:"image,omitempty"` // the image captured or restored
	Targets  []string  `json:"targets,omitempty"`
	// Result is the task's own JSON result (the line `--json` prints):
	// bytes written, skipped, fetched, verification.
	Result json.RawMessage `json:"result,omitempty"`
}

// SaveReport stores a report and returns its name in the repository.
func (r *Repository) SaveReport(ctx context.Context, rep *Report) (string, error) {
	if err := validMachine(rep.Machine); err != nil {
		return "", err
	}
	if rep.Task == "" || strings.ContainsAny(rep.Task, "/.") {
		return "", fmt.Errorf("report task %q is not valid", rep.Task)
	}
	rep.Version = 1
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("%s/%s/%s-%s-%s.json", reportsDir, rep.Machine, rep.Time.UTC().Format("20060102T150405Z"), rep.Task, hex.EncodeToString(rnd[:]))
	if err := r.s.Save(ctx, name, append(data, '\n')); err != nil {
		return "", fmt.Errorf("saving the report in %s: %w", r.s.Location(), err)
	}
	return name, nil
}

// Reports returns machine's reports, oldest first. Reports that cannot be
// read are skipped: they are for people, and nothing depends on them.
func (r *Repository) Reports(ctx context.Context, machine string) ([]*Report, error) {
	if err := validMachine(machine); err != nil {
		return nil, err
	}
	dir := reportsDir + "/" + machine
	var names []string
	err := r.s.List(ctx, dir, func(fi store.Info) error {
		if strings.HasSuffix(fi.Name, ".json") && !isTemp(fi.Name) {
			names = append(names, dir+"/"+fi.Name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing reports in %s: %w", r.s.Location(), err)
	}
	sort.Strings(names) // the names start with the time
	var out []*Report
	for _, n := range names {
		data, err := r.s.ReadFile(ctx, n)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rep, err := parseReport(data); err == nil {
			out = append(out, rep)
		}
	}
	return out, nil
}

// parseReport parses a stored report.
func parseReport(data []byte) (*Report, error) {
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
