// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !unix

package qemutest

import "testing"

// lockBuild: the boot environment is built on Linux only.
func lockBuild(t testing.TB, root string) func() { return func() {} }

// holdVMs: VMs run on Linux only.
func holdVMs(t testing.TB, root string) {}
