// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// memoryBudget is what every command may use at its peak: the boot
// environment runs from RAM.
const memoryBudget = 256 << 20

// TestMemoryBounded builds the rewind binary, fills a repository with what
// used to take gigabytes to read (a 3-million-entry snapshot, five 500 MiB
// zero-filled ones, and a valid image as large as a snapshot may be), and
// checks the peak RSS of each command run as a child.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rewind and writes ~330 MB of snapshots: not in -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "rewind")
	build := exec.Command("go", "build", "-o", bin, "github.com/rewind-backup/rewind/cmds/rewind")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	repoDir := filepath.Join(dir, "repo")
	os.Mkdir(repoDir, 0o755)
	if _, errs, code := runIn(t, "", "init", "--repo", repoDir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	addImage(t, repoDir, "ws1", 1)
	snapDir := filepath.Join(repoDir, "snapshots")
	now := time.Now()

	// A valid image of the largest size allowed, with distinct chunks that
	// are not stored (check names a few).
	full := largestImage(t, now.Add(-time.Hour))
	writeSnapshot(t, snapDir, func(w io.Writer) { w.Write(full) })

	// 3 million chunk entries (about 270 MB), with a readable head.
	big := writeSnapshot(t, snapDir, func(w io.Writer) {
		fmt.Fprintf(w, `{"version":1,"kind":"image","machine":"big","time":%q,"image":{"chunk_size":1048576,"disks":[{"name":"sda","size":%d,"sector_size":512,"table":"gpt","boot":[],"partitions":[{"index":1,"type":"x","mode":"raw","offset":0,"length":%d,"used":[{"off":0,"len":%d}],"used_bytes":%d,"chunks":[`,
			now.Format(time.RFC3339Nano), int64(3e6)<<20, int64(3e6)<<20, int64(3e6)<<20, int64(3e6)<<20)
		var id [32]byte
		for i := range 3_000_000 {
			binary.LittleEndian.PutUint64(id[:], uint64(i))
			if i > 0 {
				io.WriteString(w, ",")
			}
			fmt.Fprintf(w, `{"i":%d,"id":"%s"}`, i, hex.EncodeToString(id[:]))
		}
		io.WriteString(w, "]}]}]}}\n")
	})
	if fi, err := os.Stat(filepath.Join(snapDir, big)); err != nil || fi.Size() < 250e6 {
		t.Fatalf("the 3-million-entry snapshot: %v, %d bytes", err, fi.Size())
	}
	// Five 500 MiB zero-filled files (sparse) named as snapshots.
	for i := range 5 {
		id := sha256.Sum256([]byte{byte(i)})
		f, err := os.Create(filepath.Join(snapDir, hex.EncodeToString(id[:])))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(500 << 20); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	target := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(target, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int // every one finds damage
	}{
		{[]string{"images"}, 3},
		{[]string{"images", "--machine", "ws1"}, 3},
		{[]string{"images", "--machine", "full"}, 3},
		{[]string{"snapshots"}, 3},
		{[]string{"check"}, 3},
		{[]string{"restore", "--machine", "ws1", "--yes", target}, 1},
		{[]string{"restore", "--machine", "big", "--yes", "--image", big[:8], target}, 1},
		{[]string{"verify", "--machine", "big", "--image", big[:8], target}, 1},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{tc.args[0], "--repo", repoDir}, tc.args[1:]...)
			code, peak, stdout, stderr, elapsed := measure(t, bin, args...)
			if code != tc.code {
				t.Errorf("rewind %s = exit %d, want %d\n%s%s", strings.Join(tc.args, " "), code, tc.code, tail(stdout), tail(stderr))
			}
			t.Logf("rewind %s: peak RSS %d MiB, %s", strings.Join(tc.args, " "), peak>>20, elapsed.Round(time.Millisecond))
			if peak > memoryBudget {
				t.Errorf("rewind %s: peak RSS %d MiB, want at most %d MiB", strings.Join(tc.args, " "), peak>>20, memoryBudget>>20)
			}
		})
	}
}

// measureEnv makes the test binary a launcher that runs a command and
// prints its peak RSS (see TestMain).
const measureEnv = "REWIND_TEST_MEASURE"

// measure runs bin with args and returns its exit code, peak RSS in bytes,
// output and run time. It goes through a fresh copy of the test binary: a
// child's ru_maxrss starts from its parent's peak (the memory it shares
// until exec), and this test's own process has held the snapshots it built.
func measure(t *testing.T, bin string, args ...string) (code int, peak int64, stdout, stderr string, elapsed time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{bin}, args...)...)
	// The command's own memory limit is what is measured: no GOMEMLIMIT or
	// GOGC of the caller's may change it.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOGC=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, measureEnv+"=1")
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("the launcher failed: %v\n%s", err, errs.String())
	}
	var res measured
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("the launcher's result %q: %v", out.String(), err)
	}
	return res.Code, res.MaxRSS, res.Stdout, res.Stderr, res.Elapsed
}

// measured is what the launcher reports.
type measured struct {
	Code    int
	MaxRSS  int64 // bytes
	Stdout  string
	Stderr  string
	Elapsed time.Duration
}

// TestMain turns the test binary into the launcher when measureEnv is set:
// it runs os.Args[1:] and prints a measured as JSON.
func TestMain(m *testing.M) {
	if os.Getenv(measureEnv) == "" {
		os.Exit(m.Run())
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "running %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	res := measured{
		Code:    cmd.ProcessState.ExitCode(),
		MaxRSS:  cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10, // KiB on Linux
		Stdout:  stdout.String(),
		Stderr:  stderr.String(),
		Elapsed: time.Since(start),
	}
	json.NewEncoder(os.Stdout).Encode(res)
	os.Exit(0)
}

// tail returns the last lines of s, for failure messages.
func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n") + "\n"
}

// writeSnapshot writes what fill produces into snapshots/ under its own
// hash, as a snapshot is named, and returns the name.
func writeSnapshot(t *testing.T, snapDir string, fill func(io.Writer)) string {
	t.Helper()
	tmp := filepath.Join(snapDir, "tmp-snapshot")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	fill(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	name := hexSum(h)
	if err := os.Rename(tmp, filepath.Join(snapDir, name)); err != nil {
		t.Fatal(err)
	}
	return name
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// largestImage returns the encoding of a valid image snapshot of machine
// "full" that lists as many distinct chunks as fit in repo.MaxSnapshotSize.
func largestImage(t *testing.T, when time.Time) []byte {
	t.Helper()
	const cs = 1 << 20
	encode := func(n int64) []byte {
		area := repo.Area{Offset: 1 << 20, Length: n * cs, Used: []repo.Extent{{Off: 0, Len: n * cs}}, UsedBytes: n * cs}
		area.Chunks = make([]repo.ChunkRef, n)
		for i := range area.Chunks {
			var p [8]byte
			binary.LittleEndian.PutUint64(p[:], uint64(i))
			area.Chunks[i] = repo.ChunkRef{I: int64(i), ID: chunk.Hash(p[:])}
		}
		s := repo.Snapshot{Version: repo.SnapshotVersion, Kind: repo.KindImage, Machine: "full", Time: when,
			Image: &repo.Image{ChunkSize: cs, Disks: []repo.Disk{{Name: "sda", Size: area.Offset + area.Length, SectorSize: 512, Table: "gpt",
				Partitions: []repo.Partition{{Index: 1, Type: "x", Mode: "used-blocks", Area: area}}}}}}
		b, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	}
	n := int64(1000)
	b := encode(n)
	n = n * (repo.MaxSnapshotSize - 1024) / int64(len(b))
	b = encode(n)
	for len(b) > repo.MaxSnapshotSize {
		n -= n / 100
		b = encode(n)
	}
	if len(b) < repo.MaxSnapshotSize*98/100 {
		t.Fatalf("the largest image is %d bytes, want close to %d", len(b), repo.MaxSnapshotSize)
	}
	t.Logf("largest image: %d chunks, %d bytes", n, len(b))
	return b
}
