// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/blockmap"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// inspectRun runs a real tool; a failure fails t.
func inspectRun(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	p := testutil.NeedTool(t, name)[0]
	cmd := exec.Command(p, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func inspectSparse(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// inspectFS makes a filesystem image of size bytes with a real mkfs and a
// file or two in it, and returns its path.
type inspectFS struct {
	kind string // ext4, ntfs, fat32, fat16, swap, none
	size int64
}

func (f inspectFS) make(t *testing.T, dir string) string {
	t.Helper()
	img := filepath.Join(dir, f.kind+".img")
	inspectSparse(t, img, f.size)
	file := filepath.Join(dir, "file.bin")
	b := bytes.Repeat([]byte("rewind inspect "), 100000)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	switch f.kind {
	case "ext4":
		tree := filepath.Join(dir, "tree")
		if err := os.MkdirAll(tree, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, "file.bin"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		inspectRun(t, "", "mkfs.ext4", "-F", "-q", "-L", "root", "-d", tree, img)
	case "ntfs":
		inspectRun(t, "", "mkntfs", "-q", "-F", "-f", "-L", "Windows", img)
		inspectRun(t, "", "ntfscp", "-f", img, file, "/file.bin")
	case "fat32", "fat16":
		inspectRun(t, "", "mkfs.vfat", "-F", f.kind[3:], "-s", "1", "-n", "ESP", img)
		inspectRun(t, "", "mcopy", "-i", img, file, "::/")
	case "swap":
		inspectRun(t, "", "mkswap", img)
	}
	return img
}

func TestInspect(t *testing.T) {
	testutil.NeedTool(t, "sfdisk", "mkfs.ext4", "mkntfs", "ntfscp", "mkfs.vfat", "mcopy", "mkswap")
	const MiB = 1 << 20
	tests := []struct {
		name   string
		script string
		size   int64
		parts  map[int]inspectFS // by partition index
		ext    []int             // indexes of extended containers
	}{
		{
			name: "gpt",
			script: "label: gpt\n" +
				"size=40MiB, type=U, name=EFI\n" +
				"size=64MiB, type=L, name=root\n" +
				"size=48MiB, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=data\n" +
				"size=8MiB, type=S\n" +
				"size=8MiB, type=L\n",
			size: 180 * MiB,
			parts: map[int]inspectFS{
				1: {"fat32", 40 * MiB}, 2: {"ext4", 64 * MiB}, 3: {"ntfs", 48 * MiB}, 4: {"swap", 8 * MiB}, 5: {"none", 8 * MiB},
			},
		},
		{
			name: "mbr",
			script: "label: dos\n" +
				"size=48MiB, type=7, bootable\n" +
				"type=5\n" +
				"size=64MiB, type=83\n" +
				"size=30MiB, type=6\n",
			size:  150 * MiB,
			parts: map[int]inspectFS{1: {"ntfs", 48 * MiB}, 5: {"ext4", 64 * MiB}, 6: {"fat16", 30 * MiB}},
			ext:   []int{2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "disk.img")
			inspectSparse(t, img, tc.size)
			inspectRun(t, tc.script, "sfdisk", "-q", img)
			var table struct {
				PartitionTable struct {
					SectorSize int64 `json:"sectorsize"`
					Partitions []struct {
						Node  string `json:"node"`
						Start int64  `json:"start"`
						Size  int64  `json:"size"`
					} `json:"partitions"`
				} `json:"partitiontable"`
			}
			if err := json.Unmarshal([]byte(inspectRun(t, "", "sfdisk", "-J", img)), &table); err != nil {
				t.Fatal(err)
			}
			want := map[int]*blockmap.Summary{}
			disk, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer disk.Close()
			for _, p := range table.PartitionTable.Partitions {
				idx, _ := strconv.Atoi(strings.TrimPrefix(p.Node, img))
				f, ok := tc.parts[idx]
				if !ok {
					continue
				}
				sub := t.TempDir()
				fsImg := f.make(t, sub)
				src, err := os.Open(fsImg)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(io.NewOffsetWriter(disk, p.Start*table.PartitionTable.SectorSize), src); err != nil {
					t.Fatal(err)
				}
				m, err := blockmap.Read(context.Background(), src, p.Size*table.PartitionTable.SectorSize, blockmap.Options{})
				src.Close()
				if err != nil {
					t.Fatal(err)
				}
				want[idx] = &m.Summary
			}
			if len(want) != len(tc.parts) {
				t.Fatalf("sfdisk made partitions %+v, want indexes %v", table.PartitionTable.Partitions, tc.parts)
			}

			var out, errOut bytes.Buffer
			o := OS{Stdout: &out, Stderr: &errOut}
			if err := Run(context.Background(), []string{"inspect", "--json", img}, o); err != nil {
				t.Fatalf("rewind inspect --json %s = %v\n%s", tc.name, err, errOut.String())
			}
			var rep inspectReport
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("inspect --json output does not decode: %v\n%s", err, out.String())
			}
			wantType := map[string]string{"gpt": "gpt", "mbr": "mbr"}[tc.name]
			if rep.Layout.Type != wantType {
				t.Errorf("inspect(%s).Layout.Type = %q, want %q", tc.name, rep.Layout.Type, wantType)
			}
			var imaged int64
			seen := map[int]bool{}
			for _, p := range rep.Partitions {
				seen[p.Index] = true
				if contains(tc.ext, p.Index) {
					if !p.Extended || p.Filesystem != nil {
						t.Errorf("inspect(%s) partition %d = %+v, want an extended container, not mapped", tc.name, p.Index, p)
					}
					continue
				}
				if p.Error != "" {
					t.Errorf("inspect(%s) partition %d: %s", tc.name, p.Index, p.Error)
					continue
				}
				if diff := cmp.Diff(want[p.Index], p.Filesystem); diff != "" {
					t.Errorf("inspect(%s) partition %d filesystem (-want +got):\n%s", tc.name, p.Index, diff)
				}
				imaged += p.Filesystem.Used - p.Filesystem.ZeroedBytes
			}
			for idx := range tc.parts {
				if !seen[idx] {
					t.Errorf("inspect(%s) does not list partition %d", tc.name, idx)
				}
			}
			if rep.Imaged != imaged {
				t.Errorf("inspect(%s).Imaged = %d, want the sum of used bytes less zeroed ones %d", tc.name, rep.Imaged, imaged)
			}

			// The same disk as a block device: a loop device over the image.
			t.Run("loop", func(t *testing.T) {
				testutil.NeedRoot(t)
				dev := strings.TrimSpace(inspectRun(t, "", "losetup", "--find", "--show", "--read-only", img))
				t.Cleanup(func() { inspectRun(t, "", "losetup", "-d", dev) })
				var lout bytes.Buffer
				if err := Run(context.Background(), []string{"inspect", "--json", dev}, OS{Stdout: &lout, Stderr: &lout}); err != nil {
					t.Fatalf("rewind inspect --json %s = %v\n%s", dev, err, lout.String())
				}
				var lrep inspectReport
				if err := json.Unmarshal(lout.Bytes(), &lrep); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(rep.Partitions, lrep.Partitions); diff != "" || lrep.Imaged != rep.Imaged {
					t.Errorf("inspect(%s) differs from inspect of the image file (-image +device):\n%s", dev, diff)
				}
			})

			out.Reset()
			if err := Run(context.Background(), []string{"inspect", img}, o); err != nil {
				t.Fatalf("rewind inspect %s = %v", tc.name, err)
			}
			text := out.String()
			t.Logf("rewind inspect %s:\n%s", tc.name, text)
			for _, f := range tc.parts {
				w := map[string]string{"none": "raw", "swap": "header-only"}[f.kind]
				if w == "" {
					w = f.kind
				}
				if !strings.Contains(text, w) {
					t.Errorf("inspect(%s) text does not mention %q:\n%s", tc.name, w, text)
				}
				// mkfs.ext4 makes a journal, empty: its log is zeroed.
				if f.kind == "ext4" && !strings.Contains(text, "the journal's log") {
					t.Errorf("inspect(%s) text does not say that the ext4 journal's log is zeroed:\n%s", tc.name, text)
				}
			}
		})
	}
}

func contains(l []int, v int) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func TestInspectUsage(t *testing.T) {
	tests := []struct {
		args []string
		want error
	}{
		{[]string{"inspect"}, ErrUsage},
		{[]string{"inspect", "a", "b"}, ErrUsage},
		{[]string{"inspect", "--bogus", "a"}, ErrUsage},
		{[]string{"inspect", "-h"}, nil},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		err := Run(context.Background(), tc.args, OS{Stdout: &out, Stderr: &out})
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("Run(%q) = %v, want %v", tc.args, err, tc.want)
		}
	}
	// A disk that does not exist says so.
	err := Run(context.Background(), []string{"inspect", filepath.Join(t.TempDir(), "missing.img")}, OS{Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "missing.img") {
		t.Errorf("Run(inspect missing.img) = %v, want an error naming the disk", err)
	}
}

// TestInspectWholeDisk: a filesystem made on the whole disk, with no
// partition table (a USB stick formatted that way), is shown as one.
func TestInspectWholeDisk(t *testing.T) {
	testutil.NeedTool(t, "mkfs.ext4", "mkfs.vfat", "mcopy")
	for _, f := range []inspectFS{{"ext4", 32 << 20}, {"fat32", 40 << 20}} {
		img := f.make(t, t.TempDir())
		var out bytes.Buffer
		if err := Run(context.Background(), []string{"inspect", "--json", img}, OS{Stdout: &out, Stderr: &out}); err != nil {
			t.Fatalf("rewind inspect --json %s = %v\n%s", f.kind, err, out.String())
		}
		var rep inspectReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Layout.Type != "none" || len(rep.Partitions) != 1 || rep.Partitions[0].Filesystem == nil ||
			rep.Partitions[0].Filesystem.FS != f.kind || rep.Partitions[0].Size != f.size {
			t.Errorf("inspect(whole-disk %s) = %s, want no table and one %s partition of %d bytes", f.kind, out.String(), f.kind, f.size)
		}
	}
}
