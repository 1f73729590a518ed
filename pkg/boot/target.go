// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rewind-backup/rewind/pkg/human"
)

// Disk is a whole disk as the boot environment sees it.
type Disk struct {
	Name   string // kernel name: "sda", "nvme0n1", "vda"
	Path   string // device node: "/dev/sda"
	Model  string
	Serial string
	Size   int64 // bytes
	// Refusal is why the disk must not be written ("" when it may be):
	// mounted, in use as swap, the running system's disk (disk.DiskInfo).
	Refusal string
	// BootMedium: the disk the boot environment or the running system
	// started from.
	BootMedium bool
}

func (d Disk) String() string {
	s := fmt.Sprintf("%s (%s", d.Name, human.DiskSize(d.Size))
	if d.Model != "" {
		s += ", " + d.Model
	}
	if d.Serial != "" {
		s += ", serial " + d.Serial
	}
	return s + ")"
}

// ErrTarget marks a rewind.target that names no disk, several, or one that
// must not be written.
var ErrTarget = errors.New("no usable target disk")

// ResolveTarget picks the disk that spec names among disks: a kernel name
// ("nvme0n1", "/dev/sda"), "serial:SERIAL", or "only" for the single disk
// that is not the boot medium and may be written (a refused disk, mounted or
// the running system's, does not count). medium is the boot medium's disk
// name ("" if none); it is never returned, nor is a disk marked BootMedium.
func ResolveTarget(spec string, disks []Disk, medium string) (Disk, error) {
	var others, usable []Disk
	for _, d := range disks {
		if d.Name == medium || d.BootMedium {
			continue
		}
		others = append(others, d)
		if d.Refusal == "" {
			usable = append(usable, d)
		}
	}
	list := func() string {
		if len(others) == 0 {
			return "none"
		}
		var s []string
		for _, d := range others {
			if d.Refusal != "" {
				s = append(s, d.String()+", refused: "+d.Refusal)
				continue
			}
			s = append(s, d.String())
		}
		return strings.Join(s, "; ")
	}
	isMedium := func(d Disk) bool { return d.Name == medium || d.BootMedium }
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return Disk{}, fmt.Errorf("rewind.target is not set; name the disk (e.g. rewind.target=nvme0n1, serial:SERIAL or only); disks here: %s: %w", list(), ErrTarget)
	case spec == "only":
		switch {
		case len(usable) == 1:
			return usable[0], nil
		case len(others) == 0:
			return Disk{}, fmt.Errorf("rewind.target=only: there is no disk besides the boot medium; is the disk's controller driver missing?: %w", ErrTarget)
		case len(usable) == 0:
			return Disk{}, fmt.Errorf("rewind.target=only: no disk besides the boot medium may be written: %s: %w", list(), ErrTarget)
		default:
			return Disk{}, fmt.Errorf("rewind.target=only: there are %d disks besides the boot medium that may be written, name one (rewind.target=NAME or serial:SERIAL): %s: %w", len(usable), list(), ErrTarget)
		}
	case strings.HasPrefix(spec, "serial:"):
		want := strings.TrimSpace(strings.TrimPrefix(spec, "serial:"))
		for _, d := range disks {
			if want != "" && d.Serial == want {
				if isMedium(d) {
					return Disk{}, fmt.Errorf("rewind.target=%s is the boot medium %s, which is never written: %w", spec, d, ErrTarget)
				}
				return d, nil
			}
		}
		return Disk{}, fmt.Errorf("rewind.target=%s: no disk has serial %q; disks here: %s: %w", spec, want, list(), ErrTarget)
	default:
		name := strings.TrimPrefix(spec, "/dev/")
		for _, d := range disks {
			if d.Name == name {
				if isMedium(d) {
					return Disk{}, fmt.Errorf("rewind.target=%s is the boot medium %s, which is never written: %w", spec, d, ErrTarget)
				}
				return d, nil
			}
		}
		return Disk{}, fmt.Errorf("rewind.target=%s: no disk %q; disks here: %s: %w", spec, name, list(), ErrTarget)
	}
}
