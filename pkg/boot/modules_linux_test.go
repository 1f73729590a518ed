// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fakeProber fails the modules named in errs with their error.
type fakeProber struct{ errs map[string]error }

func (p fakeProber) Probe(name, params string) error { return p.errs[name] }

func TestProbeSkipsAbsentHardware(t *testing.T) {
	broken := errors.New("exec format error")
	// The errno's text alone is not the errno: a module that fails with
	// it is reported, not taken for absent hardware.
	textOnly := errors.New("no such device")
	m := &moduleLoader{
		prober: fakeProber{errs: map[string]error{
			"nodev":  unix.ENODEV,
			"nxio":   fmt.Errorf("loading nxio.ko: %w", unix.ENXIO),
			"broken": broken,
			"text":   textOnly,
		}},
		tried: map[string]bool{},
	}
	loaded, err := m.probe([]string{"ok", "nodev", "nxio", "broken", "text"})
	if diff := cmp.Diff([]string{"ok"}, loaded); diff != "" {
		t.Errorf("probe loaded (-want +got):\n%s", diff)
	}
	for _, want := range []error{broken, textOnly} {
		if !errors.Is(err, want) {
			t.Errorf("probe error = %v, want it to hold %q", err, want)
		}
	}
	if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
		t.Errorf("probe error = %v, want absent hardware left out", err)
	}
	for _, mod := range []string{"ok", "nodev", "nxio", "broken", "text"} {
		if !m.tried[mod] {
			t.Errorf("module %s not marked tried", mod)
		}
	}
}
