// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !linux

package restore

// dropCache asks a target that can to drop its cached pages before the
// read-back.
func dropCache(t any) error {
	if dc, ok := t.(cacheDropper); ok {
		return dc.DropCache()
	}
	return nil
}
