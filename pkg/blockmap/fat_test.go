// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// fsckFATUsed returns the data-area offset, cluster size and used clusters
// that fsck.fat -n -v reports.
func fsckFATUsed(t testing.TB, img string) (dataOff, clusterSize, used int64) {
	t.Helper()
	out := run(t, "fsck.fat", "-n", "-v", img)
	num := func(re string) int64 {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("fsck.fat -n -v %s: no %q in\n%s", img, re, out)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	return num(`Data area starts at byte (\d+)`), num(`(\d+) bytes per cluster`), num(`files, (\d+)/\d+ clusters`)
}

func TestFAT(t *testing.T) {
	testutil.NeedTool(t, "mkfs.vfat", "fsck.fat", "mcopy", "mdel")
	tests := []struct {
		fs     string
		mkfs   []string
		sizeKB string
		files  int
		max    int
	}{
		{"fat12", []string{"-F", "12"}, "8192", 30, 300 << 10},
		{"fat16", []string{"-F", "16", "-s", "4"}, "65536", 60, 1 << 20},
		{"fat16", []string{"-F", "16", "-s", "2", "-r", "1024"}, "40960", 60, 600 << 10},
		{"fat32", []string{"-F", "32", "-s", "1"}, "65536", 60, 1 << 20},
		{"fat32", []string{"-F", "32", "-s", "4", "-f", "1"}, "262144", 40, 2 << 20},
	}
	for i, tc := range tests {
		t.Run(tc.fs+"-"+itoa(i), func(t *testing.T) {
			dir := t.TempDir()
			tree := filepath.Join(dir, "tree")
			names := makeTree(t, tree, int64(100+i), tc.files, tc.max)
			img := filepath.Join(dir, "fs.img")
			run(t, "mkfs.vfat", append(append([]string{"-n", "LAB" + itoa(i), "-i", "1234ABC" + itoa(i)}, tc.mkfs...), "-C", img, tc.sizeKB)...)
			run(t, "mcopy", "-i", img, "-s", filepath.Join(tree, "docs"), filepath.Join(tree, "photos"), "::/")
			var top []string
			for _, n := range names {
				if filepath.Dir(n) == "." {
					top = append(top, filepath.Join(tree, n))
				}
			}
			run(t, "mcopy", append([]string{"-i", img}, append(top, "::/")...)...)
			// Holes: delete every fifth file from the image and the tree.
			var kept []string
			for j, n := range names {
				if j%5 == 0 {
					run(t, "mdel", "-i", img, "::/"+filepath.ToSlash(n))
					if err := os.Remove(filepath.Join(tree, n)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				kept = append(kept, n)
			}
			m := mustMap(t, img)
			dataOff, cs, used := fsckFATUsed(t, img)
			if m.FS != tc.fs || m.Mode != UsedBlocks || m.BlockSize != cs || m.Label != "LAB"+itoa(i) || m.UUID != "1234-ABC"+itoa(i) || !m.Clean {
				t.Errorf("Read(%s) summary = %+v, want %s, used-blocks, cluster size %d, label LAB%d, UUID 1234-ABC%d, clean", tc.fs, m.Summary, tc.fs, cs, i, i)
			}
			if want := dataOff + used*cs; m.Used != want {
				t.Errorf("Read(%s).Used = %d, want fsck.fat's data offset + used clusters × cluster size = %d", tc.fs, m.Used, want)
			}
			t.Logf("%s: %d of %d bytes used, %d extents", tc.fs, m.Used, m.Total, len(m.Extents))
			cp := copyUsed(t, img, m)
			if out, err := tryRun(t, "fsck.fat", "-n", cp); err != nil {
				t.Fatalf("fsck.fat -n on the copy of the used extents: %v\n%s", err, out)
			}
			back := filepath.Join(dir, "back")
			if err := os.Mkdir(back, 0o755); err != nil {
				t.Fatal(err)
			}
			run(t, "mcopy", "-i", cp, "-s", "::/", back)
			sameTree(t, tree, back, kept)
		})
	}
}

// TestFATDirty sets the dirty bit the kernel sets while a FAT is mounted:
// the map is still made (FAT has no journal to replay) but says unclean,
// as fsck.fat does.
func TestFATDirty(t *testing.T) {
	testutil.NeedTool(t, "mkfs.vfat", "fsck.fat")
	for _, tc := range []struct {
		bits, spc string
		off       int64
	}{{"16", "2", 0x25}, {"32", "1", 0x41}} {
		img := filepath.Join(t.TempDir(), "fat.img")
		run(t, "mkfs.vfat", "-F", tc.bits, "-s", tc.spc, "-C", img, "40000")
		patch(t, img, tc.off, "\x01")
		out, _ := tryRun(t, "fsck.fat", "-n", img)
		if !regexp.MustCompile(`(?i)dirty`).MatchString(out) {
			t.Fatalf("fsck.fat -n does not see the dirty bit written at %#x:\n%s", tc.off, out)
		}
		m := mustMap(t, img)
		if m.Clean || m.Mode != UsedBlocks || m.Reason == "" {
			t.Errorf("Read(dirty fat%s) = %+v, want an unclean used-blocks map with a reason", tc.bits, m.Summary)
		}
	}
}
