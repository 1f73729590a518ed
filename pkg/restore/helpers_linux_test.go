// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/capture"
	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// run runs a real tool and returns its standard output; a failure fails t.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, errOut, err := tryRun(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func tryRun(t testing.TB, name string, args ...string) (string, string, error) {
	t.Helper()
	p := testutil.NeedTool(t, name)[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func runStdin(t testing.TB, stdin, name string, args ...string) {
	t.Helper()
	p := testutil.NeedTool(t, name)[0]
	cmd := exec.Command(p, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// part describes a partition of a test disk.
type part struct {
	start, size int64  // sectors
	typ         string // sfdisk type
	fs          string // "vfat", "ext4", "ntfs", "swap", "raw", "extended", ""
	files       int    // how many files to put in it
	name        string // GPT name
}

// testDisk is a disk image built by buildDisk.
type testDisk struct {
	path  string
	size  int64
	parts []builtPart
}

type builtPart struct {
	part
	index int
	tree  string   // the files put in it
	names []string // relative to tree
}

// buildDisk makes a disk image of size bytes: a partition table (label
// "gpt" or "mbr") and real filesystems filled with files. bootCode puts
// random bytes where a BIOS boot loader lives: the MBR's code area and the
// gap before the first partition.
func buildDisk(t testing.TB, dir, label string, size int64, parts []part, bootCode bool, seed uint64) *testDisk {
	t.Helper()
	d := &testDisk{path: filepath.Join(dir, "disk.img"), size: size}
	testutil.SparseFile(t, d.path, size)
	script := "label: " + label + "\n"
	if label == "gpt" {
		script += "label-id: 6A7D8E3C-1B2A-4C5D-9E8F-0123456789AB\n"
	}
	for _, p := range parts {
		line := fmt.Sprintf("start=%d, size=%d, type=%s", p.start, p.size, p.typ)
		if p.name != "" {
			line += fmt.Sprintf(", name=%q", p.name)
		}
		script += line + "\n"
	}
	runStdin(t, script, "sfdisk", "--no-reread", "--no-tell-kernel", "-q", d.path)
	if bootCode {
		r := rand.New(rand.NewPCG(seed, 9))
		code := make([]byte, 440)
		for i := range code {
			code[i] = byte(r.Uint32())
		}
		testutil.PatchFile(t, d.path, 0, code)
		gap := make([]byte, (parts[0].start-1)*512)
		for i := range gap {
			gap[i] = byte(r.Uint32())
		}
		testutil.PatchFile(t, d.path, 512, gap)
	}
	idx := 0
	for i, p := range parts {
		idx++
		bp := builtPart{part: p, index: idx}
		if label == "dos" && i > 0 && parts[i-1].fs == "extended" {
			bp.index = 5 // the first logical partition
		}
		if p.fs != "" && p.fs != "extended" {
			bp.tree = filepath.Join(dir, fmt.Sprintf("tree%d", bp.index))
			fsFile := filepath.Join(dir, fmt.Sprintf("fs%d.img", bp.index))
			bp.names = makeFS(t, fsFile, bp.tree, p.fs, p.len(), p.start, p.files, seed+uint64(i))
			copyInto(t, d.path, p.off(), fsFile)
			os.Remove(fsFile)
		}
		d.parts = append(d.parts, bp)
	}
	return d
}

func (p part) len() int64 { return p.size * 512 }
func (p part) off() int64 { return p.start * 512 }

// makeFS makes a filesystem of size bytes in file path, filled with files
// written under tree, and returns their names.
func makeFS(t testing.TB, path, tree, fs string, size, startSector int64, files int, seed uint64) []string {
	t.Helper()
	testutil.SparseFile(t, path, size)
	flat := fs == "ntfs" // ntfscp makes no folders
	var names []string
	if files > 0 {
		names = makeTree(t, tree, seed, files, flat)
	}
	switch fs {
	case "ext4":
		args := []string{"-q", "-F", "-L", "root", "-U", "0b5e1c6a-2d3f-4e5a-8b9c-0d1e2f3a4b5c", "-E", "root_owner=0:0"}
		if files > 0 {
			args = append(args, "-d", tree)
		}
		run(t, "mkfs.ext4", append(args, path)...)
	case "vfat":
		run(t, "mkfs.vfat", "-n", "ESP", "-i", "1234abcd", path)
		if files > 0 {
			ents, err := os.ReadDir(tree)
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"-s", "-i", path}
			for _, e := range ents {
				args = append(args, filepath.Join(tree, e.Name()))
			}
			run(t, "mcopy", append(args, "::/")...)
		}
	case "ntfs":
		run(t, "mkntfs", "-F", "-Q", "-q", "-s", "512", "-p", fmt.Sprint(startSector), "-H", "0", "-S", "0", "-L", "data", path)
		for _, n := range names {
			run(t, "ntfscp", path, filepath.Join(tree, n), "/"+n)
		}
	case "swap":
		run(t, "mkswap", "-q", path)
	case "raw":
		r := rand.New(rand.NewPCG(seed, 5))
		b := make([]byte, min(size, 256<<10))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		testutil.PatchFile(t, path, 0, b)
	default:
		t.Fatalf("unknown filesystem %q", fs)
	}
	return names
}

// makeTree writes n files under dir, half random (incompressible), half
// text, and returns their relative names.
func makeTree(t testing.TB, dir string, seed uint64, n int, flat bool) []string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	var names []string
	for i := range n {
		sub := []string{"", "docs", "photos"}[i%3]
		if flat {
			sub = ""
		}
		name := filepath.Join(sub, fmt.Sprintf("file%03d.bin", i))
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		writeRandom(t, filepath.Join(dir, name), r, i)
		names = append(names, name)
	}
	return names
}

// writeRandom writes a file of up to 512 KiB: random bytes for even i,
// repetitive text for odd.
func writeRandom(t testing.TB, path string, r *rand.Rand, i int) {
	t.Helper()
	size := 1000 + r.IntN(512<<10)
	var b []byte
	if i%2 == 0 {
		b = make([]byte, size)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
	} else {
		line := fmt.Sprintf("line of file %d, seed %d: the quick brown fox\n", i, r.Uint32())
		b = []byte(strings.Repeat(line, size/len(line)+1))[:size]
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyInto copies file src into dst at offset off.
func copyInto(t testing.TB, dst string, off int64, src string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(io.NewOffsetWriter(out, off), in); err != nil {
		t.Fatal(err)
	}
}

// extract copies n bytes at off of file src into a new file.
func extract(t testing.TB, src string, off, n int64, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.NewSectionReader(in, off, n)); err != nil {
		t.Fatal(err)
	}
}

// tableDump returns `sfdisk --dump` of an image without its file name.
func tableDump(t testing.TB, path string) string {
	t.Helper()
	out := run(t, "sfdisk", "--dump", path)
	return strings.ReplaceAll(out, path, "DISK")
}

var lastLBA = regexp.MustCompile(`(?m)^last-lba: .*\n`)

// checkFilesystems runs fsck on every partition of the restored image dst
// and compares every file with what was put in.
func checkFilesystems(t *testing.T, d *testDisk, dst string) {
	t.Helper()
	dir := t.TempDir()
	for _, p := range d.parts {
		if p.fs == "" || p.fs == "extended" || p.fs == "raw" || p.fs == "swap" {
			continue
		}
		fsFile := filepath.Join(dir, fmt.Sprintf("p%d.img", p.index))
		extract(t, dst, p.off(), p.len(), fsFile)
		switch p.fs {
		case "ext4":
			run(t, "e2fsck", "-fn", fsFile)
		case "vfat":
			run(t, "fsck.fat", "-n", fsFile)
		case "ntfs":
			run(t, "ntfsfix", "-n", fsFile)
		}
		for _, n := range p.names {
			want, err := os.ReadFile(filepath.Join(p.tree, n))
			if err != nil {
				t.Fatal(err)
			}
			var got string
			switch p.fs {
			case "ext4":
				got = run(t, "debugfs", "-R", "cat /"+n, fsFile)
			case "vfat":
				got = run(t, "mtype", "-i", fsFile, "::/"+n)
			case "ntfs":
				got = run(t, "ntfscat", fsFile, "/"+n)
			}
			if got != string(want) {
				t.Errorf("partition %d (%s): file %s differs after the restore (%d bytes, want %d)", p.index, p.fs, n, len(got), len(want))
			}
		}
		os.Remove(fsFile)
	}
}

// checkUsedIdentical compares every used range of the image between the
// source and the restored disk: equal, but for the zeroed ranges, which
// must read as zeros on the restored disk.
func checkUsedIdentical(t *testing.T, img *repo.Image, src, dst string) {
	t.Helper()
	a, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, p := range img.Disks[0].Partitions {
		for _, u := range p.Used {
			x, y := make([]byte, u.Len), make([]byte, u.Len)
			if _, err := p.ReadData(a, u, x); err != nil {
				t.Fatal(err)
			}
			if _, err := p.ReadMasked(b, u, y); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(x, y) {
				t.Errorf("partition %d: used range %d+%d differs after the restore (its zeroed parts must be zeros)", p.Index, u.Off, u.Len)
			}
		}
	}
}

// captureImage captures the image file at path into r.
func captureImage(t testing.TB, r *repo.Repository, path string, machine string) *capture.Result {
	t.Helper()
	src, err := disk.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res, err := capture.Capture(context.Background(), r, []capture.Source{src}, capture.Options{Machine: machine})
	if err != nil {
		t.Fatalf("Capture(%s) = %v", path, err)
	}
	return res
}

// restoreImage restores snap onto the image file at path.
func restoreImage(t testing.TB, r *repo.Repository, snap *repo.Snapshot, path string, opt Options) (*Summary, error) {
	t.Helper()
	dst, err := disk.OpenWrite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	return Restore(context.Background(), r, snap, []Target{dst}, opt)
}

// The test disks.

// win11Disk is a GPT disk laid out like Windows 11: ESP, MSR, NTFS data,
// NTFS recovery.
func win11Disk(t testing.TB, dir string) *testDisk {
	return buildDisk(t, dir, "gpt", 64<<20, []part{
		{start: 2048, size: 16 << 11, typ: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", fs: "vfat", files: 6, name: "EFI system partition"},
		{start: 2048 + 16<<11, size: 1 << 11, typ: "E3C9E316-0B5C-4DB8-817D-F92DF00215AE", fs: "raw", name: "Microsoft reserved partition"},
		{start: 2048 + 17<<11, size: 32 << 11, typ: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", fs: "ntfs", files: 10, name: "Basic data partition"},
		{start: 2048 + 49<<11, size: 12 << 11, typ: "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC", fs: "ntfs", files: 2},
	}, false, 11)
}

// linuxDisk is a GPT Linux disk: ESP, ext4 root, swap.
func linuxDisk(t testing.TB, dir string, files int) *testDisk {
	return buildDisk(t, dir, "gpt", 64<<20, []part{
		{start: 2048, size: 8 << 11, typ: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", fs: "vfat", files: 3},
		{start: 2048 + 8<<11, size: 44 << 11, typ: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", fs: "ext4", files: files, name: "root"},
		{start: 2048 + 52<<11, size: 8 << 11, typ: "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", fs: "swap"},
	}, false, 22)
}

// mbrBIOSDisk is an MBR disk with a BIOS boot loader in its first sectors:
// FAT, ext4, and a logical ext4 partition.
func mbrBIOSDisk(t testing.TB, dir string) *testDisk {
	return buildDisk(t, dir, "dos", 64<<20, []part{
		{start: 2048, size: 16 << 11, typ: "c", fs: "vfat", files: 4},
		{start: 2048 + 16<<11, size: 20 << 11, typ: "83", fs: "ext4", files: 6},
		{start: 2048 + 36<<11, size: 24 << 11, typ: "5", fs: "extended"},
		{start: 2048 + 37<<11, size: 16 << 11, typ: "83", fs: "ext4", files: 4},
	}, true, 33)
}

// randFor returns a reproducible random source.
func randFor(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 77)) }
