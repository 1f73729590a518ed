// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// kernelEscape escapes a path as the kernel's seq_file does in mountinfo
// and /proc/swaps: space, tab, newline and backslash as \ooo.
func kernelEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; strings.IndexByte(" \t\n\\", c) >= 0 {
			fmt.Fprintf(&b, "\\%03o", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzUnescapeOctal: any string unescapes without panic to no more bytes
// than it has, and a path the kernel escaped unescapes to itself.
func FuzzUnescapeOctal(f *testing.F) {
	for _, s := range []string{`/mnt/my\040disk`, `\134\011\012`, `\`, `\04`, `\400`, `\0400`, `a\`, `\x41`, `plain`} {
		testutil.Seed(f, s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := unescapeOctal(s); len(got) > len(s) {
			t.Fatalf("unescapeOctal(%q) = %q, longer than its input", s, got)
		}
		if got := unescapeOctal(kernelEscape(s)); got != s {
			t.Fatalf("unescapeOctal(%q) = %q, want %q", kernelEscape(s), got, s)
		}
	})
}

// FuzzParseMountinfo: any mountinfo parses without panic into no more
// mounts than it has lines, and a line the kernel would write for a mount
// point and source reads back as them.
func FuzzParseMountinfo(f *testing.F) {
	real := "22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n" +
		"36 22 8:3 / /mnt/my\\040disk rw master:1 - vfat /dev/sda3 rw\n" +
		"40 22 0:5 / /dev rw - devtmpfs udev rw\n" +
		"41 22 7:0 / /mnt/x rw shared:2 unbindable - ext4 /tmp/a\\134b rw\n" +
		"short line\n"
	testutil.Seed(f, []byte(real), "/mnt/data", "/dev/sdb1")
	testutil.Seed(f, []byte("1 2 3 4\n- - -\n"), "/mnt/a b\tc", "/dev/disk/by-label/x\\y")
	testutil.Seed(f, []byte{}, " ", "-")
	f.Fuzz(func(t *testing.T, data []byte, mountPoint, source string) {
		ms, err := parseMountinfo(bytes.NewReader(data))
		if err == nil && len(ms) > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("parseMountinfo: %d mounts from %d lines", len(ms), bytes.Count(data, []byte("\n"))+1)
		}
		if mountPoint == "" || source == "" {
			return // the kernel writes no empty fields
		}
		line := fmt.Sprintf("36 22 8:3 / %s rw,relatime shared:1 - ext4 %s rw,errors=remount-ro\n", kernelEscape(mountPoint), kernelEscape(source))
		ms, err = parseMountinfo(strings.NewReader(line))
		want := mount{devnum: "8:3", mountPoint: mountPoint, source: source}
		if err != nil || len(ms) != 1 || ms[0] != want {
			t.Fatalf("parseMountinfo(%q) = %+v, %v; want %+v", line, ms, err, want)
		}
	})
}

// FuzzParseSwaps: any swaps file parses without panic into no more paths
// than it has lines, and a line the kernel would write reads back as its path.
func FuzzParseSwaps(f *testing.F) {
	testutil.Seed(f, []byte("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/sda3                               partition\t8388604\t\t0\t\t-2\n/swap\\040file file 1048572 0 -3\n"), "/dev/sdb2")
	testutil.Seed(f, []byte("\n\n\n"), "/a b")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		if got := parseSwaps(data); len(got) > bytes.Count(data, []byte("\n")) {
			t.Fatalf("parseSwaps: %d paths from %d lines after the header", len(got), bytes.Count(data, []byte("\n")))
		}
		if path == "" {
			return
		}
		file := "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" + kernelEscape(path) + "\tpartition\t8388604\t0\t-2\n"
		if got := parseSwaps([]byte(file)); len(got) != 1 || got[0] != path {
			t.Fatalf("parseSwaps(%q) = %q, want [%q]", file, got, path)
		}
	})
}
