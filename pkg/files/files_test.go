// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestExcluder(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("patterns fold case on Windows; this table is the Unix one")
	}
	ex, err := NewExcluder([]string{".cache", "*.tmp", "AppData/Local/Temp", "/home/*/Downloads", ".local/share/Trash"})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"/home/jane/.cache":                  true,
		"/home/jane/.cache/x":                false, // the folder is left out, so nothing below is seen
		"/home/jane/a.tmp":                   true,
		"/home/jane/a.tmpx":                  false,
		"/C:/Users/jane/AppData/Local/Temp":  true,
		"/C:/Users/jane/AppData/Local/Temp2": false,
		"/home/jane/Downloads":               true,
		"/srv/home/jane/Downloads":           false, // anchored at the root
		"/home/jane/.local/share/Trash":      true,
		"/home/jane/Documents":               false,
	} {
		if got := ex.Match(p); got != want {
			t.Errorf("Match(%q) = %v, want %v", p, got, want)
		}
	}
	if _, err := NewExcluder([]string{"[a-"}); err == nil {
		t.Errorf("NewExcluder accepted a malformed pattern")
	}
	if _, err := NewExcluder([]string{"/"}); err == nil {
		t.Errorf("NewExcluder accepted a pattern that matches nothing")
	}
}

func TestReplayTargets(t *testing.T) {
	rp := &replay{opt: ReplayOptions{Into: "/mnt/c"}}
	for _, m := range []string{`C:\Users\jane\Documents=/Docs`, "/home/old=/home/new"} {
		pair, err := parseMap(m)
		if err != nil {
			t.Fatal(err)
		}
		rp.maps = append(rp.maps, pair)
	}
	for tp, want := range map[string]string{
		treePath(`C:\Users\jane\x.ods`):         "/mnt/c/Users/jane/x.ods",
		treePath(`C:\Users\jane\Documents\a`):   "/mnt/c/Docs/a",
		treePath(`C:\Users\jane\DocumentsPlus`): "/mnt/c/Users/jane/DocumentsPlus",
		"/home/old/f":                           "/mnt/c/home/new/f",
		"/home/jane/f":                          "/mnt/c/home/jane/f",
	} {
		if got := rp.target(tp); got != filepath.FromSlash(want) {
			t.Errorf("target(%q) = %q, want %q", tp, got, want)
		}
	}
	if got := treePath(`C:\Users\jane`); got != "/C:/Users/jane" {
		t.Errorf("treePath of a Windows path = %q", got)
	}
}

// TestParseMap: --map SRC=DST splits at the last '=', so that a folder
// backed up with '=' in its name can be mapped; one with no SRC is refused.
func TestParseMap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [2]string // "": refused
	}{
		{"/home/old=/home/new", [2]string{"/home/old", "/home/new"}},
		{"/srv/a=b=/data", [2]string{"/srv/a=b", "/data"}},
		{"/srv/x==/", [2]string{"/srv/x=", "/"}},
		{`C:\Users\jane\Documents=Docs`, [2]string{"/C:/Users/jane/Documents", "/Docs"}},
		{"/home/jane=", [2]string{"/home/jane", "/"}},
		{"/home/jane", [2]string{}},
		{"=/x", [2]string{}},
	} {
		got, err := parseMap(tc.in)
		if tc.want == ([2]string{}) {
			if err == nil {
				t.Errorf("parseMap(%q) = %q, want a refusal", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseMap(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestTreeAndDisplayPaths: a path as the user writes it on any system
// becomes one tree path (the drive letter's case folded), and a tree path
// under a drive is shown the Windows way wherever it is shown.
func TestTreeAndDisplayPaths(t *testing.T) {
	for _, tc := range []struct{ in, tree, display string }{
		{`C:\Users\jane`, "/C:/Users/jane", `C:\Users\jane`},
		{`c:\Users\jane\`, "/C:/Users/jane", `C:\Users\jane`},
		{"C:/Users/jane", "/C:/Users/jane", `C:\Users\jane`},
		{"/C:/Users/jane", "/C:/Users/jane", `C:\Users\jane`},
		{"/c:/Users", "/C:/Users", `C:\Users`},
		{`C:\`, "/C:", `C:\`},
		{"/home/jane/x y", "/home/jane/x y", "/home/jane/x y"},
		{"/home/jane/./a//b/", "/home/jane/a/b", "/home/jane/a/b"},
		{"/", "/", "/"},
		{"/CD:/x", "/CD:/x", "/CD:/x"}, // not a drive
	} {
		tp := treePath(tc.in)
		if tp != tc.tree {
			t.Errorf("treePath(%q) = %q, want %q", tc.in, tp, tc.tree)
		}
		if got := DisplayPath(tp); got != tc.display {
			t.Errorf("DisplayPath(%q) = %q, want %q", tp, got, tc.display)
		}
	}
}
