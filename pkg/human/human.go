// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package human formats numbers for the person reading rewind's output.
package human

import "fmt"

// Bytes formats a byte count with a binary unit: "512 B", "1.5 GiB".
func Bytes(n int64) string {
	return format(n, 1024, "KMGTPE", "i")
}

// DiskSize formats a disk's size in the decimal units its maker prints on
// the label: "512.1 GB".
func DiskSize(n int64) string {
	return format(n, 1000, "kMGTPE", "")
}

func format(n, unit int64, prefixes, infix string) string {
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := unit, 0
	for m := n / unit; (m >= unit || m <= -unit) && exp < len(prefixes)-1; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %c%sB", float64(n)/float64(div), prefixes[exp], infix)
}
