// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !windows

package cli

import "os"

// openConsole opens the controlling terminal to ask on: in to read the
// answer from, out to write the question to (here the same file); close
// closes what it opened.
func openConsole() (in, out *os.File, close func(), err error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	return tty, tty, func() { tty.Close() }, nil
}
