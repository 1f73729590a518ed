// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// FuzzParseAliases: any modules.alias parses without panic, and the
// indexed table matches a device exactly as trying every pattern of its
// bus with path.Match would (modpost writes literal bus names).
func FuzzParseAliases(f *testing.F) {
	testutil.Seed(f, []byte(aliases), "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00")
	testutil.Seed(f, []byte(aliases), "usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00")
	testutil.Seed(f, []byte("alias pci:v\\*d* esc\nalias pci:v[0-9]d* cls\nalias pci:v?d* one\n"), "pci:v*d1")
	testutil.Seed(f, []byte("alias a:b\talias x\nalias\n alias c:* m m\n"), "c:d")
	f.Fuzz(func(t *testing.T, data []byte, modalias string) {
		tab, err := parseAliases(bytes.NewReader(data))
		if err != nil {
			return // a line over 1 MiB
		}
		var want []string
		for _, line := range strings.Split(string(data), "\n") {
			fl := strings.Fields(line)
			if len(fl) != 3 || fl[0] != "alias" {
				continue
			}
			bus, _, ok := strings.Cut(fl[1], ":")
			if !ok || strings.ContainsAny(bus, `*?[\`) || !strings.HasPrefix(modalias, bus+":") {
				continue
			}
			if ok, err := path.Match(fl[1], modalias); err == nil && ok {
				want = append(want, fl[2])
			}
		}
		got := tab.match(modalias)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("match(%q) = %q, want %q", modalias, got, want)
		}
	})
}
