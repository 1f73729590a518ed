// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"bytes"
	"encoding/binary"
)

// swapPageSizes are the page sizes a Linux swap header may be written for.
var swapPageSizes = [...]int{4096, 8192, 16384, 65536}

// isSwap returns the page size of a Linux swap header ("SWAPSPACE2" in the
// last ten bytes of the first page), or 0.
func isSwap(h []byte) int {
	for _, p := range swapPageSizes {
		if p <= len(h) && bytes.Equal(h[p-10:p], []byte("SWAPSPACE2")) {
			return p
		}
	}
	return 0
}

// isHibernatedSwap reports whether a swap area holds a Linux hibernation
// image instead of a swap header (the kernel overwrites the signature).
func isHibernatedSwap(h []byte) bool {
	for _, p := range swapPageSizes {
		if p > len(h) {
			continue
		}
		sig := h[p-10 : p]
		for _, m := range []string{"S1SUSPEND", "S2SUSPEND", "ULSUSPEND", "LINHIB0001"} {
			if bytes.HasPrefix(sig, []byte(m)) {
				return true
			}
		}
	}
	return false
}

// readSwap maps a Linux swap area: only its header page (version, size,
// UUID, label) is kept, which is what mkswap writes; the rest of the
// partition is restored as zeros.
func readSwap(h []byte, size int64) (*Map, error) {
	p := int64(isSwap(h))
	if p > size {
		return rawMap(size, Summary{FS: "swap", Clean: true, Reason: "swap area smaller than its header page"})
	}
	s := Summary{
		FS:        "swap",
		UUID:      formatUUID(h[1036:1052]),
		Label:     cString(h[1052:1068]),
		BlockSize: p,
		Total:     size,
		Used:      p,
		Clean:     true,
		Mode:      HeaderOnly,
		Reason:    "Linux swap: only its header page is kept",
	}
	if last := int64(binary.LittleEndian.Uint32(h[1028:])); last > 0 && (last+1)*p <= size {
		s.Total = (last + 1) * p
	}
	return &Map{Summary: s, Extents: []Extent{{0, p}}}, nil
}
