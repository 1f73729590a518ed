// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// dumpe2fsUsed returns the block size and blocks − free blocks that
// dumpe2fs reads from the superblock.
func dumpe2fsUsed(t testing.TB, img string) (bs, used int64) {
	t.Helper()
	out := run(t, "dumpe2fs", "-h", img)
	field := func(name string) int64 {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("dumpe2fs -h %s: no %q in\n%s", img, name, out)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	bs = field("Block size")
	return bs, (field("Block count") - field("Free blocks")) * bs
}

// debugfsWrite copies the files names from dir into the filesystem in img
// with debugfs, which needs no mount.
func debugfsWrite(t testing.TB, img, dir string, names []string) {
	t.Helper()
	var cmds strings.Builder
	made := map[string]bool{}
	var dirs []string
	for _, n := range names {
		for d := filepath.Dir(n); d != "."; d = filepath.Dir(d) {
			if !made[d] {
				made[d] = true
				dirs = append(dirs, d)
			}
		}
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) < len(dirs[j]) }) // parents first
	for _, d := range dirs {
		fmt.Fprintf(&cmds, "mkdir /%s\n", d)
	}
	for _, n := range names {
		fmt.Fprintf(&cmds, "write %s /%s\n", filepath.Join(dir, n), n)
	}
	f := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(f, []byte(cmds.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "debugfs", "-w", "-f", f, img)
}

// checkExtCopy copies only the used extents of img, then checks the copy
// with e2fsck and reads every file back with debugfs.
func checkExtCopy(t *testing.T, img, tree string, m *Map) {
	t.Helper()
	cp := copyUsed(t, img, m)
	if out, err := tryRun(t, "e2fsck", "-fn", cp); err != nil {
		t.Fatalf("e2fsck -fn on the copy of the used extents: %v\n%s", err, out)
	}
	back := filepath.Join(t.TempDir(), "back")
	if err := os.Mkdir(back, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "debugfs", "-R", "rdump / "+back, cp)
	sameTree(t, tree, back, listTree(t, tree))
}

func TestExt(t *testing.T) {
	testutil.NeedTool(t, "mkfs.ext4", "dumpe2fs", "debugfs", "e2fsck", "resize2fs")
	tests := []struct {
		name  string
		mkfs  []string // arguments to mkfs.ext4 before the image and size
		size  string
		grow  string // resize2fs to this size, then add more files
		fs    string
		files int
	}{
		{name: "default-4k", mkfs: []string{"-b", "4096"}, size: "128M", fs: "ext4", files: 60},
		{name: "1k-uninit_bg", mkfs: []string{"-b", "1024", "-O", "^metadata_csum,uninit_bg"}, size: "96M", fs: "ext4", files: 60},
		{name: "no-flex_bg", mkfs: []string{"-b", "1024", "-O", "^flex_bg"}, size: "96M", fs: "ext4", files: 60},
		{name: "G64", mkfs: []string{"-b", "1024", "-G", "64"}, size: "96M", fs: "ext4", files: 60},
		{name: "grown", mkfs: []string{"-b", "4096", "-g", "4096"}, size: "40M", grow: "160M", fs: "ext4", files: 40},
		{name: "meta_bg", mkfs: []string{"-b", "1024", "-O", "meta_bg,^resize_inode"}, size: "96M", fs: "ext4", files: 40},
		{name: "32bit-no-csum", mkfs: []string{"-b", "4096", "-g", "2048", "-O", "^64bit,^metadata_csum"}, size: "64M", fs: "ext4", files: 30},
		{name: "sparse_super2", mkfs: []string{"-b", "1024", "-O", "sparse_super2"}, size: "64M", fs: "ext4", files: 30},
		{name: "ext3", mkfs: []string{"-t", "ext3", "-b", "1024"}, size: "64M", fs: "ext3", files: 30},
		{name: "ext2", mkfs: []string{"-t", "ext2", "-b", "2048"}, size: "64M", fs: "ext2", files: 30},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tree := filepath.Join(dir, "tree")
			names := makeTree(t, tree, int64(i), tc.files, 1<<20)
			img := filepath.Join(dir, "fs.img")
			args := append([]string{"-F", "-q", "-L", "lab" + tc.name[:2]}, tc.mkfs...)
			if tc.grow == "" {
				args = append(args, "-d", tree)
			}
			run(t, "mkfs.ext4", append(args, img, tc.size)...)
			if tc.grow != "" {
				debugfsWrite(t, img, tree, names[:len(names)/2])
				run(t, "resize2fs", img, tc.grow)
				debugfsWrite(t, img, tree, names[len(names)/2:])
			}
			if out, err := tryRun(t, "e2fsck", "-fn", img); err != nil {
				t.Fatalf("e2fsck -fn on the original: %v\n%s", err, out)
			}
			m := mustMap(t, img)
			bs, want := dumpe2fsUsed(t, img)
			if m.FS != tc.fs || m.Mode != UsedBlocks || m.BlockSize != bs || !m.Clean || m.Label != "lab"+tc.name[:2] || m.UUID == "" {
				t.Errorf("Read(%s) summary = %+v, want %s, used-blocks, block size %d, clean, label %q", tc.name, m.Summary, tc.fs, bs, "lab"+tc.name[:2])
			}
			if m.Used != want {
				t.Errorf("Read(%s).Used = %d, want dumpe2fs's (blocks − free) × block size = %d (diff %d blocks)", tc.name, m.Used, want, (m.Used-want)/bs)
			}
			t.Logf("%s: %d of %d bytes used, %d extents, %d files", tc.name, m.Used, m.Total, len(m.Extents), len(names))
			checkExtCopy(t, img, tree, m)
		})
	}
}

// TestExtMounted fills an ext4 by a real loop mount, so that the kernel's
// allocator places the files (and deletes some, leaving holes), checks that
// Read refuses it while the journal needs recovery, and maps it once
// unmounted.
func TestExtMounted(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "mkfs.ext4", "mount", "umount", "dumpe2fs", "debugfs", "e2fsck")
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	run(t, "mkfs.ext4", "-F", "-q", "-b", "4096", "-g", "8192", img, "160M")
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-o", "loop", img, mnt)
	mounted := true
	unmount := func() {
		if mounted {
			run(t, "umount", mnt)
			mounted = false
			testutil.WaitLoopDetached(t, img)
		}
	}
	t.Cleanup(unmount)
	names := makeTree(t, mnt, 42, 80, 1<<20)
	for i, n := range names {
		if i%3 == 0 {
			if err := os.Remove(filepath.Join(mnt, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(t, "sync")
	var fe *FSError
	if _, err := readMap(t, img, Options{}); !errors.Is(err, ErrUnclean) {
		t.Errorf("Read(mounted ext4) = %v, want an error wrapping ErrUnclean", err)
	} else if !errors.As(err, &fe) || fe.Summary.FS != "ext4" || fe.Summary.UUID == "" || fe.Summary.Clean {
		t.Errorf("Read(mounted ext4) = %#v; want an FSError that names an unclean ext4 and its UUID", err)
	} else {
		t.Logf("mounted: %v", err)
	}
	if m, err := readMap(t, img, Options{Force: true}); err != nil || m.Clean || m.Reason == "" {
		t.Errorf("Read(mounted ext4, Force) = %+v, %v; want an unclean map with a reason", m, err)
	}
	tree := filepath.Join(dir, "tree")
	run(t, "cp", "-a", mnt, tree)
	unmount()
	m := mustMap(t, img)
	if _, want := dumpe2fsUsed(t, img); m.Used != want {
		t.Errorf("Read(kernel-filled ext4).Used = %d, want %d", m.Used, want)
	}
	checkExtCopy(t, img, tree, m)
}

// TestExtDescCsum checks the group descriptor checksums (crc16 for
// uninit_bg, crc32c for metadata_csum, with and without a checksum seed)
// against what mkfs.ext4 wrote: Read trusts BLOCK_UNINIT only when they
// match.
func TestExtDescCsum(t *testing.T) {
	testutil.NeedTool(t, "mkfs.ext4", "tune2fs")
	for _, o := range []string{"metadata_csum", "^metadata_csum,uninit_bg", "metadata_csum,metadata_csum_seed,64bit"} {
		img := filepath.Join(t.TempDir(), "fs.img")
		run(t, "mkfs.ext4", "-q", "-F", "-b", "1024", "-O", o, img, "64M")
		if strings.Contains(o, "seed") {
			run(t, "tune2fs", "-U", "random", img) // the seed keeps the old UUID's
		}
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := parseExtSuper(b[1024:2048])
		if err != nil {
			t.Fatal(err)
		}
		for g := int64(0); g < sb.groups; g++ {
			blk := sb.descBlock(g / sb.descPerBlock)
			d := b[blk*sb.blockSize+(g%sb.descPerBlock)*sb.descSize:][:sb.descSize]
			if !sb.descCsumOK(g, d) {
				t.Errorf("descCsumOK(%s, group %d) = false, want true", o, g)
			}
			d[0] ^= 1
			if sb.descCsumOK(g, d) {
				t.Errorf("descCsumOK(%s, group %d with a flipped bit) = true, want false", o, g)
			}
		}
	}
}
