// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"
)

// fsModules are loaded by name: filesystems are not hardware. vfat and its
// code pages read the boot medium; the others are what restores and file
// replay mount.
var fsModules = []string{"vfat", "nls_cp437", "nls_utf8", "nls_ascii", "exfat", "ntfs3", "ext4"}

// moduleLoader loads the bundled kernel modules whose modules.alias entries
// match the hardware in /sys/devices, with their dependencies in order.
// Calling load again picks up devices that appeared since (USB devices show
// up only after their host controller's driver is loaded). Not safe for
// concurrent use.
type moduleLoader struct {
	dir    string // /lib/modules/KVER
	alias  aliasTable
	prober prober
	tried  map[string]bool
}

// prober loads a kernel module and its dependencies: *kmodule.Prober.
type prober interface {
	// Probe loads the module name with the parameters params. Errors from
	// the kernel are the errno itself or wrap it.
	Probe(name, params string) error
}

func newModuleLoader() (*moduleLoader, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
	f, err := os.Open(filepath.Join(dir, "modules.alias"))
	if err != nil {
		return nil, fmt.Errorf("no modules for this kernel (%w): the initramfs was built for another kernel; rebuild with make boot", err)
	}
	defer f.Close()
	tab, err := parseAliases(f)
	if err != nil {
		return nil, err
	}
	p, err := kmodule.NewProber(kmodule.ProbeOpts{})
	if err != nil {
		return nil, fmt.Errorf("reading %s/modules.dep: %w", dir, err)
	}
	return &moduleLoader{dir: dir, alias: tab, prober: p, tried: map[string]bool{}}, nil
}

// modaliases returns the modalias of every device under /sys/devices.
func modaliases(ctx context.Context) ([]string, error) {
	var out []string
	err := filepath.WalkDir("/sys/devices", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // devices come and go while we walk
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.Name() != "modalias" || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil {
			if a := string(bytes.TrimSpace(b)); a != "" {
				out = append(out, a)
			}
		}
		return nil
	})
	return out, err
}

// load loads the modules for devices not seen before. It returns the
// modules it loaded and an error joining the ones that failed; a module that
// matches but finds no device it can drive (ENODEV) is not a failure.
func (m *moduleLoader) load(ctx context.Context) ([]string, error) {
	as, err := modaliases(ctx)
	if err != nil {
		return nil, err
	}
	return m.probe(m.alias.modulesFor(as, m.tried))
}

// loadByName loads the named modules (if not loaded or tried before).
func (m *moduleLoader) loadByName(names []string) ([]string, error) {
	var todo []string
	for _, n := range names {
		if !m.tried[n] {
			todo = append(todo, n)
		}
	}
	return m.probe(todo)
}

// noHardware reports whether a module failed to load only because the
// hardware it drives is not there: its init returned ENODEV ("no such
// device") or ENXIO ("no such device or address"). modules.alias matches
// are broad, so that is expected and not worth a warning.
func noHardware(err error) bool {
	return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}

func (m *moduleLoader) probe(mods []string) ([]string, error) {
	var loaded []string
	var errs []error
	for _, mod := range mods {
		m.tried[mod] = true
		if err := m.prober.Probe(mod, ""); err != nil {
			if noHardware(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %w", mod, err))
			continue
		}
		loaded = append(loaded, mod)
	}
	return loaded, errors.Join(errs...)
}
