// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Command runs a program (found as LookPath does) with stdin and returns
// its output; a failure fails the test with that output.
func Command(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	p, err := LookPath(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cmd := exec.Command(p, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// SampleDisk builds a disk image of size bytes (at least 4 MiB) in t's temp
// dir, without mounting anything: a GPT with one Linux partition from 1 MiB
// to 1 MiB before the end, holding an ext4 filesystem with 20 text files
// under /docs. It returns the image's path.
func SampleDisk(t testing.TB, size int64) string {
	t.Helper()
	NeedTool(t, "sfdisk", "mkfs.ext4", "dd")
	dir := t.TempDir()
	files := filepath.Join(dir, "files", "docs")
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		b := bytes.Repeat([]byte(fmt.Sprintf("file %d of the sample disk\n", i)), 2000+i*500)
		if err := os.WriteFile(filepath.Join(files, fmt.Sprintf("f%02d.txt", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	disk := filepath.Join(dir, "source.img")
	part := filepath.Join(dir, "part.img")
	const start = 2048 // sectors: 1 MiB
	sectors := (size - 2<<20) / 512
	SparseFile(t, disk, size)
	Command(t, fmt.Sprintf("label: gpt\nstart=%d, size=%d, type=L, name=\"data\"\n", start, sectors), "sfdisk", "-q", disk)
	Command(t, "", "mkfs.ext4", "-q", "-F", "-d", filepath.Dir(files), "-E", "lazy_itable_init=0,lazy_journal_init=0", part, fmt.Sprintf("%dk", sectors/2))
	Command(t, "", "dd", "if="+part, "of="+disk, "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none")
	os.Remove(part)
	return disk
}
