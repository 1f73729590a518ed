// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import "os"

// openConsole opens the console the process is attached to: CONIN$ to read
// the answer from (read and write: reading without echo changes its mode),
// CONOUT$ to write the question to. Windows has no /dev/tty.
func openConsole() (in, out *os.File, close func(), err error) {
	in, err = os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	out, err = os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		in.Close()
		return nil, nil, nil, err
	}
	return in, out, func() { in.Close(); out.Close() }, nil
}
