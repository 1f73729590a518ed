// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package human

import "testing"

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		n           int64
		bytes, disk string
	}{
		{0, "0 B", "0 B"},
		{1023, "1023 B", "1.0 kB"},
		{1024, "1.0 KiB", "1.0 kB"},
		{1536, "1.5 KiB", "1.5 kB"},
		{64 << 20, "64.0 MiB", "67.1 MB"},
		{512110190592, "476.9 GiB", "512.1 GB"},
		{1 << 62, "4.0 EiB", "4.6 EB"},
		{-2048, "-2.0 KiB", "-2.0 kB"},
	} {
		if got := Bytes(tc.n); got != tc.bytes {
			t.Errorf("Bytes(%d) = %q, want %q", tc.n, got, tc.bytes)
		}
		if got := DiskSize(tc.n); got != tc.disk {
			t.Errorf("DiskSize(%d) = %q, want %q", tc.n, got, tc.disk)
		}
	}
}
