// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package job is what rewind's front ends share: open a repository with
// its password and network retries, plan a restore (which checks that its
// targets may be written and makes the caller confirm each by name), run
// it, and save a report of the outcome. pkg/cli (the command line), pkg/tui
// (the wizard) and pkg/boot (unattended tasks) are thin over it; none
// builds another's argument list.
package job
