// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build unix

package qemutest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// lockBuild holds an exclusive lock on out/.make.lock in the module root
// until the test ends or the returned function is called: go test runs
// packages in parallel, and two makes of the boot environment at once
// trip over each other's temporary files.
func lockBuild(t testing.TB, root string) func() {
	t.Helper()
	f := flock(t, filepath.Join(root, "out", ".make.lock"))
	return func() { f.Close() } // closing releases the lock
}

// flock opens (creating it) the file at p and holds an exclusive lock on
// it until the file is closed.
func flock(t testing.TB, p string) *os.File {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("locking %s: %v", p, err)
	}
	return f
}

// vms counts this process's tests that hold the VM lock.
var vms struct {
	sync.Mutex
	n int
	f *os.File
}

// holdVMs holds an exclusive lock on out/.vm.lock until the test ends, so
// that VMs of different test packages (go test runs them in parallel) do
// not share the two emulating cores and miss their deadlines. Tests of one
// package share the lock: one of them may boot several VMs at once.
func holdVMs(t testing.TB, root string) {
	t.Helper()
	vms.Lock()
	defer vms.Unlock()
	if vms.n == 0 {
		vms.f = flock(t, filepath.Join(root, "out", ".vm.lock"))
	}
	vms.n++
	t.Cleanup(func() {
		vms.Lock()
		defer vms.Unlock()
		if vms.n--; vms.n == 0 {
			vms.f.Close()
			vms.f = nil
		}
	})
}
