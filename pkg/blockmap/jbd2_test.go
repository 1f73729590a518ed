// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// journalBlocks returns the journal's data blocks in logical order, as
// debugfs lists them ("(0-11):787-798, (IND):799, (12-267):800-1055"),
// without the indirect and extent-tree blocks.
func journalBlocks(t testing.TB, img string) []int64 {
	t.Helper()
	out := run(t, "debugfs", "-R", "stat <8>", img)
	var blocks []int64
	re := regexp.MustCompile(`\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		lo, _ := strconv.ParseInt(m[1], 10, 64)
		hi := lo
		if m[2] != "" {
			hi, _ = strconv.ParseInt(m[2], 10, 64)
		}
		p, _ := strconv.ParseInt(m[3], 10, 64)
		if int64(len(blocks)) != lo {
			t.Fatalf("debugfs stat <8> of %s: logical block %d after %d blocks:\n%s", img, lo, len(blocks), out)
		}
		for b := lo; b <= hi; b++ {
			blocks = append(blocks, p+b-lo)
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("debugfs stat <8> of %s lists no blocks:\n%s", img, out)
	}
	return blocks
}

// blockExtents turns block numbers into sorted, merged byte ranges.
func blockExtents(blocks []int64, bs int64) []Extent {
	var ext []Extent
	for _, b := range blocks {
		ext = append(ext, Extent{b * bs, bs})
	}
	return merge(ext, false, 0)
}

// TestExtJournal checks that the log of a clean ext3/4 journal (every
// journal block but the first, as debugfs maps them: through extents and
// through ext3's indirect blocks) is reported as zeroed, and that a copy
// of the used extents with zeros there is a filesystem e2fsck finds clean.
func TestExtJournal(t *testing.T) {
	testutil.NeedTool(t, "mkfs.ext4", "debugfs", "dumpe2fs", "e2fsck")
	for _, tc := range []struct {
		name string
		mkfs []string
		size string
	}{
		{"ext4-4k", []string{"-b", "4096"}, "128M"},
		{"ext4-1k-no-csum", []string{"-b", "1024", "-O", "^metadata_csum"}, "64M"},
		{"ext3-1k-indirect", []string{"-t", "ext3", "-b", "1024"}, "64M"},
		{"ext3-4k-indirect", []string{"-t", "ext3", "-b", "4096", "-J", "size=16"}, "96M"},
		{"ext4-large-journal", []string{"-b", "4096", "-J", "size=64"}, "256M"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tree := filepath.Join(dir, "tree")
			makeTree(t, tree, 7, 20, 256<<10)
			img := filepath.Join(dir, "fs.img")
			run(t, "mkfs.ext4", append(append([]string{"-F", "-q", "-d", tree}, tc.mkfs...), img, tc.size)...)
			m := mustMap(t, img)
			bs := m.BlockSize
			jb := journalBlocks(t, img)
			want := blockExtents(jb[1:], bs)
			if !cmp.Equal(m.Zeroed, want) {
				t.Fatalf("Read(%s).Zeroed = %v, want the journal's blocks after its superblock %v", tc.name, m.Zeroed, want)
			}
			if m.Summary.ZeroedBytes != int64(len(jb)-1)*bs {
				t.Errorf("Read(%s).Summary.ZeroedBytes = %d, want %d", tc.name, m.Summary.ZeroedBytes, int64(len(jb)-1)*bs)
			}
			checkExtCopy(t, img, tree, m)
		})
	}
}

// TestExtJournalNotZeroed checks the cases where the journal must be
// imaged as data: its superblock says the log holds transactions, its
// checksum or the superblock's copy of the journal inode does not match.
func TestExtJournalNotZeroed(t *testing.T) {
	testutil.NeedTool(t, "mkfs.ext4", "debugfs")
	for _, tc := range []struct {
		name  string
		patch func(b []byte, bs int64, jsb int64)
	}{
		{"log not empty", func(b []byte, _ int64, jsb int64) {
			binary.BigEndian.PutUint32(b[jsb+0x1c:], 1) // s_start
		}},
		{"journal errno", func(b []byte, _ int64, jsb int64) {
			binary.BigEndian.PutUint32(b[jsb+0x20:], uint32(5)) // s_errno
		}},
		{"inode copy differs", func(b []byte, _ int64, _ int64) {
			b[1024+extJnlBlocks+20] ^= 1
		}},
		{"not a journal superblock", func(b []byte, _ int64, jsb int64) {
			b[jsb] ^= 1
		}},
		{"journal size", func(b []byte, _ int64, jsb int64) {
			binary.BigEndian.PutUint32(b[jsb+0x10:], 1<<30) // s_maxlen beyond the inode
		}},
		{"checksum", func(b []byte, _ int64, jsb int64) {
			be := binary.BigEndian
			be.PutUint32(b[jsb+0x28:], be.Uint32(b[jsb+0x28:])|jbd2CsumV3)
			b[jsb+jbd2ChecksumOff] ^= 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			run(t, "mkfs.ext4", "-F", "-q", "-b", "4096", img, "64M")
			if m := mustMap(t, img); len(m.Zeroed) == 0 {
				t.Fatalf("Read(fresh ext4).Zeroed is empty; the test needs a zeroed journal to start from")
			}
			b, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			jsb := journalBlocks(t, img)[0] * 4096
			if binary.BigEndian.Uint32(b[jsb:]) != jbd2Magic {
				t.Fatalf("block %d is not the journal superblock", jsb/4096)
			}
			tc.patch(b, 4096, jsb)
			if err := os.WriteFile(img, b, 0o644); err != nil {
				t.Fatal(err)
			}
			m := mustMap(t, img)
			if len(m.Zeroed) != 0 || m.Summary.ZeroedBytes != 0 {
				t.Errorf("Read(ext4, %s).Zeroed = %v (%d bytes), want none", tc.name, m.Zeroed, m.Summary.ZeroedBytes)
			}
		})
	}
}

// TestExtJournalMounted fills an ext4 through the kernel, so that its
// journal's log holds real transactions (and the kernel turns on the
// journal's checksums), and checks that once it is unmounted the log is
// zeroed, while it is mounted (read with Force) it is not, and that a copy
// with the log zeroed is clean, mounts, and holds the same files.
func TestExtJournalMounted(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "mkfs.ext4", "mount", "umount", "debugfs", "dumpe2fs", "e2fsck")
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	run(t, "mkfs.ext4", "-F", "-q", "-b", "4096", img, "128M")
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
	makeTree(t, mnt, 11, 60, 512<<10)
	run(t, "sync")
	if m, err := readMap(t, img, Options{Force: true}); err != nil || len(m.Zeroed) != 0 {
		t.Errorf("Read(mounted ext4, Force) = zeroed %v, %v; want a map with nothing zeroed", m.Zeroed, err)
	}
	tree := filepath.Join(dir, "tree")
	run(t, "cp", "-a", mnt, tree)
	unmount()

	jb := journalBlocks(t, img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	var written int
	for _, blk := range jb[1:] {
		if !bytes.Equal(b[blk*4096:][:4096], make([]byte, 4096)) {
			written++
		}
	}
	if written == 0 {
		t.Fatal("the kernel wrote nothing to the journal's log; the test needs transactions there")
	}
	if out := run(t, "dumpe2fs", "-h", img); !strings.Contains(out, "journal_checksum_v3") {
		t.Fatalf("the kernel did not turn on the journal's checksums (metadata_csum); the test needs them:\n%s", out)
	}
	m := mustMap(t, img)
	if want := blockExtents(jb[1:], 4096); !cmp.Equal(m.Zeroed, want) {
		t.Fatalf("Read(unmounted ext4).Zeroed = %v, want %v", m.Zeroed, want)
	}
	t.Logf("%d of %d journal blocks held transactions; zeroed %d bytes", written, len(jb)-1, m.Summary.ZeroedBytes)
	cp := copyUsed(t, img, m)
	if out, err := tryRun(t, "e2fsck", "-fn", cp); err != nil {
		t.Fatalf("e2fsck -fn on the copy with the journal's log zeroed: %v\n%s", err, out)
	}
	back := filepath.Join(dir, "back")
	if err := os.Mkdir(back, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-o", "loop", cp, back)
	t.Cleanup(func() { tryRun(t, "umount", back) })
	sameTree(t, tree, back, listTree(t, tree))
}
