// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package local

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, p := range []string{filepath.Join(dir, "missing"), file} {
		if _, err := Open(p); err == nil {
			t.Errorf("Open(%s) = nil error, want one", p)
		}
	}
}
