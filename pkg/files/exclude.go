// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"fmt"
	"os"
	"path"
	"runtime"
	"strings"
)

// Excluder matches the paths a backup leaves out. A pattern is a path
// pattern of path.Match ('*', '?', '[...]' within one component), with '/'
// (or '\' on Windows) between components:
//
//   - a pattern of one component ("*.tmp", ".cache") matches an entry of
//     that name anywhere;
//   - a pattern of several ("AppData/Local/Temp") matches an entry whose
//     path ends with those components;
//   - a pattern that starts with '/' or a drive ("/home/*/tmp", "C:/pagefile.sys")
//     matches from the root.
//
// On Windows, patterns match without regard to case.
type Excluder struct {
	pats []pattern
	fold bool
}

type pattern struct {
	parts    []string
	anchored bool
}

// NewExcluder compiles patterns.
func NewExcluder(patterns []string) (*Excluder, error) {
	e := &Excluder{fold: runtime.GOOS == "windows"}
	for _, p := range patterns {
		q := strings.ReplaceAll(p, `\`, "/")
		if runtime.GOOS != "windows" {
			q = p
		}
		if e.fold {
			q = strings.ToLower(q)
		}
		anchored := strings.HasPrefix(q, "/") || len(q) >= 2 && q[1] == ':'
		q = strings.Trim(q, "/")
		if q == "" {
			return nil, fmt.Errorf("exclude pattern %q matches nothing", p)
		}
		parts := strings.Split(q, "/")
		for _, part := range parts {
			if _, err := path.Match(part, ""); err != nil {
				return nil, fmt.Errorf("exclude pattern %q: %v", p, err)
			}
		}
		e.pats = append(e.pats, pattern{parts: parts, anchored: anchored})
	}
	return e, nil
}

// Match reports whether tree path p ("/home/jane/.cache") is excluded.
func (e *Excluder) Match(p string) bool {
	if len(e.pats) == 0 {
		return false
	}
	if e.fold {
		p = strings.ToLower(p)
	}
	comps := strings.Split(strings.Trim(p, "/"), "/")
	for _, pt := range e.pats {
		if len(pt.parts) > len(comps) || pt.anchored && len(pt.parts) != len(comps) {
			continue
		}
		tail := comps[len(comps)-len(pt.parts):]
		ok := true
		for k, part := range pt.parts {
			if m, _ := path.Match(part, tail[k]); !m {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// DefaultExcludes are what a backup leaves out unless told otherwise:
// caches, temporary files and the trash, which a program recreates and a
// user does not miss. Build output (node_modules, target/) is kept: the
// user decides.
func DefaultExcludes() []string {
	switch runtime.GOOS {
	case "windows":
		return []string{
			`AppData\Local\Temp`,
			`AppData\Local\Microsoft\Windows\INetCache`,
			`AppData\Local\Microsoft\Windows\WebCache`,
			`AppData\Local\Microsoft\Windows\Explorer\thumbcache_*.db`,
			`AppData\Local\CrashDumps`,
			`AppData\Local\Google\Chrome\User Data\*\Cache`,
			`AppData\Local\Google\Chrome\User Data\*\Code Cache`,
			`AppData\Local\Microsoft\Edge\User Data\*\Cache`,
			`AppData\Local\Microsoft\Edge\User Data\*\Code Cache`,
			`AppData\Local\Mozilla\Firefox\Profiles\*\cache2`,
			`$Recycle.Bin`,
		}
	case "darwin":
		return []string{"Library/Caches", ".Trash", ".cache"}
	default:
		return []string{".cache", ".local/share/Trash", ".thumbnails"}
	}
}

// DefaultPaths are the user profiles of this system that exist.
func DefaultPaths() []string {
	var cands []string
	switch runtime.GOOS {
	case "windows":
		drive := os.Getenv("SystemDrive")
		if drive == "" {
			drive = "C:"
		}
		cands = []string{drive + `\Users`}
	case "darwin":
		cands = []string{"/Users"}
	default:
		cands = []string{"/home", "/root"}
	}
	var out []string
	for _, p := range cands {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}
