// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// aliasTable is a parsed modules.alias, indexed by bus ("pci", "usb",
// "virtio", ...) so that a device's modalias is matched only against its bus's
// patterns, and each pattern carries its literal prefix for a cheap first test
// (this runs on emulated CPUs at boot).
type aliasTable map[string][]aliasPattern

type aliasPattern struct {
	pattern string // glob, as in modules.alias
	prefix  string // the pattern up to its first wildcard
	module  string
}

// parseAliases reads modules.alias ("alias PATTERN MODULE" lines).
func parseAliases(r io.Reader) (aliasTable, error) {
	t := aliasTable{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "alias" {
			continue
		}
		bus, _, ok := strings.Cut(f[1], ":")
		if !ok {
			continue // symbol aliases and the like
		}
		prefix := f[1]
		if i := strings.IndexAny(prefix, `*?[\`); i >= 0 { // path.Match's specials
			prefix = prefix[:i]
		}
		t[bus] = append(t[bus], aliasPattern{pattern: f[1], prefix: prefix, module: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading modules.alias: %w", err)
	}
	return t, nil
}

// match returns the modules whose patterns match a device's modalias.
func (t aliasTable) match(modalias string) []string {
	bus, _, ok := strings.Cut(modalias, ":")
	if !ok {
		return nil
	}
	var mods []string
	for _, p := range t[bus] {
		if !strings.HasPrefix(modalias, p.prefix) {
			continue
		}
		if ok, err := path.Match(p.pattern, modalias); err == nil && ok {
			mods = append(mods, p.module)
		}
	}
	return mods
}

// modulesFor returns the sorted, distinct modules that any of the modaliases
// match, minus those in skip.
func (t aliasTable) modulesFor(modaliases []string, skip map[string]bool) []string {
	seen := map[string]bool{}
	for _, a := range modaliases {
		for _, m := range t.match(a) {
			m = strings.ReplaceAll(m, "-", "_")
			if !skip[m] {
				seen[m] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
