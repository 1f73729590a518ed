// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !unix

package local

// mountPoint reports whether dir is the root of a mounted filesystem. Where
// rewind cannot tell, it says yes: Create then makes the folder.
func mountPoint(dir string) bool { return true }
