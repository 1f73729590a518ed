// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dropCache evicts a synced target's pages from the page cache, so that
// the read-back reads what the disk holds rather than what was written to
// memory. A target may do it itself (DropCache); one that has a Path (a
// *disk.Device) is evicted through a second, read-only descriptor: the page
// cache of a block device or file is shared by all its descriptors.
func dropCache(t any) error {
	if dc, ok := t.(cacheDropper); ok {
		return dc.DropCache()
	}
	p, ok := t.(interface{ Path() string })
	if !ok || p.Path() == "" {
		return nil
	}
	f, err := os.Open(p.Path())
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("fadvise DONTNEED on %s: %w", p.Path(), err)
	}
	return nil
}
