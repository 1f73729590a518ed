// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !linux

package boot

import (
	"context"
	"errors"
	"io"
)

// IsUinit reports whether rewind was started as the boot environment's
// uinit; only on Linux.
func IsUinit(args []string) bool { return len(args) > 1 && args[1] == "boot" }

// Uinit refuses: the boot environment is Linux.
func Uinit(ctx context.Context, stdin io.Reader, console io.Writer) error {
	return errors.New("rewind boot runs only in the Linux boot environment")
}
