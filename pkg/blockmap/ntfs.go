// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"context"
	"errors"
	"io"
)

func isNTFS(h []byte) bool { return false }

func readNTFS(ctx context.Context, r io.ReaderAt, size int64, head []byte, opt Options) (*Map, error) {
	return nil, errors.New("todo")
}
