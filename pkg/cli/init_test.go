// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
)

// TestInitCreatesFolder: init --repo on a folder that does not exist yet
// creates it and its missing parents, and the repository is usable.
func TestInitCreatesFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "usb", "backups", "rewind")
	out, errs, code := run(t, nil, "init", "--repo", dir)
	if code != 0 || !strings.Contains(out, "created repository") {
		t.Fatalf("init --repo %s = %d, %q %q; want a new repository", dir, code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "config")); err != nil {
		t.Errorf("no config in %s: %v", dir, err)
	}
	if _, errs, code := run(t, nil, "check", "--repo", dir); code != 0 {
		t.Errorf("check --repo %s = %d, %q", dir, code, errs)
	}
}

// TestInitSMBCreatesPath: on a share, init makes the repository's path and
// its missing parents; a share that does not exist is said plainly and
// nothing is made.
func TestInitSMBCreatesPath(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	repo := srv.URL() + "/shop/terry/rewind"
	out, errs, code := run(t, nil, "init", "--repo", repo, "--password-file", srv.PasswordFile)
	if code != 0 || !strings.Contains(out, "created repository") {
		t.Fatalf("init --repo %s = %d, %q %q; want a new repository", repo, code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(srv.ShareDir, "shop", "terry", "rewind", "config")); err != nil {
		t.Errorf("no config under the share: %v", err)
	}
	if _, errs, code := run(t, nil, "check", "--repo", repo, "--password-file", srv.PasswordFile); code != 0 {
		t.Errorf("check --repo %s = %d, %q", repo, code, errs)
	}

	missing := strings.TrimSuffix(srv.URL(), "/"+srv.Share) + "/nosuch/shop/rewind"
	_, errs, code = run(t, nil, "init", "--repo", missing, "--password-file", srv.PasswordFile)
	if want := `no share named "nosuch"`; code != 1 || !strings.Contains(lastLine(errs), want) {
		t.Errorf("init --repo %s = %d, %q; want exit 1 and %q", missing, code, errs, want)
	}
	if strings.Contains(errs, srv.Password()) {
		t.Errorf("init --repo %s printed the password", missing)
	}
}
