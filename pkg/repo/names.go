// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"strings"

	"github.com/rewind-backup/rewind/pkg/store"
)

type fsInfo = store.Info

func isTemp(name string) bool { return strings.HasPrefix(name, store.TempPrefix) }
