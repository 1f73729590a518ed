// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// sparseFile creates a sparse file of size bytes in t's temp dir.
func sparseFile(t testing.TB, name string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	testutil.SparseFile(t, p, size)
	return p
}

// run runs a command and returns its standard output; a failure fails t.
func run(t testing.TB, stdin string, name string, args ...string) string {
	t.Helper()
	path := testutil.NeedTool(t, name)[0]
	cmd := exec.Command(path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// sfdiskImage makes a sparse image of size bytes partitioned by an sfdisk
// script.
func sfdiskImage(t testing.TB, size int64, script string) string {
	t.Helper()
	p := sparseFile(t, "disk.img", size)
	run(t, script, "sfdisk", "--no-reread", "--no-tell-kernel", "-q", p)
	return p
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// readRange reads n bytes at off of the file at path.
func readRange(t testing.TB, path string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// readImageLayout opens an image file and reads its layout.
func readImageLayout(t testing.TB, path string) *Layout {
	t.Helper()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l, err := ReadLayout(d, d.Size())
	if err != nil {
		t.Fatalf("ReadLayout(%s) = %v", path, err)
	}
	return l
}
