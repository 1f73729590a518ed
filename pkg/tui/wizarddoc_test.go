// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestWizardDoc keeps docs/WIZARD.md true: each block after a
// "<!-- screen NAME -->" marker must be the golden screen NAME the model
// tests draw (-update writes them in). Its file sorts after theirs, so
// that -update writes the screens first.
func TestWizardDoc(t *testing.T) {
	doc := filepath.Join(filepath.Dir(filepath.Dir(screens)), "..", "..", "docs", "WIZARD.md")
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)<!-- screen ([0-9a-z-]+) -->\n```\n(.*?)```\n")
	seen := 0
	var failed []string
	out := block.ReplaceAllStringFunc(string(b), func(m string) string {
		sub := block.FindStringSubmatch(m)
		seen++
		want, err := os.ReadFile(filepath.Join(screens, sub[1]+".txt"))
		if err != nil {
			failed = append(failed, sub[1]+": "+err.Error())
			return m
		}
		screen := strings.TrimRight(string(want), "\n") + "\n"
		if sub[2] != screen {
			failed = append(failed, sub[1])
		}
		return "<!-- screen " + sub[1] + " -->\n```\n" + screen + "```\n"
	})
	if seen == 0 {
		t.Fatal("docs/WIZARD.md shows no screen")
	}
	if *update {
		if err := os.WriteFile(doc, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if len(failed) > 0 {
		t.Errorf("docs/WIZARD.md shows other screens than the tests draw: %s (go test ./pkg/tui -update rewrites them)", strings.Join(failed, ", "))
	}
}
