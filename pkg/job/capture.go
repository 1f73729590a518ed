// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/progress"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// CaptureRequest is what a person asked to capture.
type CaptureRequest struct {
	Machine string
	Note    string
	Disks   []string // block devices or disk image files
	// Force images a disk in use, with a warning (the image may not be
	// consistent).
	Force bool
	// Hardware is recorded in the image (ThisHardware; nil: none).
	Hardware *repo.Hardware
}

// CheckCapturable decides whether the disk at path may be imaged now: not
// while it, a partition of it or a device built on it is mounted or in use
// as swap, because an image of a filesystem in use is inconsistent. With
// force it may, and warn says what the image is worth.
func CheckCapturable(path string, force bool) (warn string, err error) {
	err = disk.CheckCapturable(path)
	switch {
	case err == nil:
		return "", nil
	case !errors.Is(err, disk.ErrInUse):
		return "", err
	case force:
		return fmt.Sprintf("%v; imaging it anyway (--force): the image of a filesystem in use may not be consistent", err), nil
	}
	return "", fmt.Errorf("%w; an image of a filesystem in use is not consistent: boot this machine from the rewind stick or PXE and capture from there, or give --force to image it anyway", err)
}

// CheckCapture checks the request: the machine's name, and each disk with
// CheckCapturable. Capture calls it; a front end may call it first, to
// refuse before it opens the repository.
func CheckCapture(req CaptureRequest) (warnings []string, err error) {
	if err := repo.ValidMachine(req.Machine); err != nil {
		return nil, err
	}
	if len(req.Disks) == 0 {
		return nil, errors.New("no disk to capture")
	}
	for _, p := range req.Disks {
		warn, err := CheckCapturable(p, req.Force)
		if errors.Is(err, disk.ErrInUse) {
			return nil, fmt.Errorf("capture refused: %w", err)
		}
		if err != nil {
			return nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
	}
	return warnings, nil
}

// Capture images the request's disks into r as one image. The result's
// warnings include CheckCapture's.
func Capture(ctx context.Context, r *repo.Repository, req CaptureRequest, rep progress.Reporter) (*capture.Result, error) {
	forced, err := CheckCapture(req)
	if err != nil {
		return nil, err
	}
	var srcs []capture.Source
	var devs []*disk.Device
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	for _, p := range req.Disks {
		d, err := disk.Open(p)
		if err != nil {
			return nil, err
		}
		devs = append(devs, d)
		srcs = append(srcs, d)
	}
	host, _ := os.Hostname()
	res, err := capture.Capture(ctx, r, srcs, capture.Options{
		Machine: req.Machine, Note: req.Note, Host: host, Force: req.Force, Progress: rep, Hardware: req.Hardware,
	})
	if err != nil {
		return nil, err
	}
	res.Warnings = append(forced, res.Warnings...)
	return res, nil
}
