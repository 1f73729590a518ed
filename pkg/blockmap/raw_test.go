// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// TestOther checks what Read makes of swap, of filesystems it images raw
// and of a partition with nothing on it, using the real mkfs tools where
// there are some and written signatures where there are none (BitLocker,
// a hibernated swap).
func TestOther(t *testing.T) {
	tests := []struct {
		name  string
		size  int64
		make  func(t *testing.T, img string) // nil: leave the image zeros
		fs    string
		label string
		mode  Mode
		want  []Extent // nil: the whole image
	}{
		{"swap", 64 << 20, func(t *testing.T, img string) { run(t, "mkswap", "-L", "swaplab", img) }, "swap", "swaplab", HeaderOnly, []Extent{{0, 4096}}},
		{"xfs", 320 << 20, func(t *testing.T, img string) { run(t, "mkfs.xfs", "-q", "-L", "xfslab", img) }, "xfs", "xfslab", Raw, nil},
		{"btrfs", 128 << 20, func(t *testing.T, img string) { run(t, "mkfs.btrfs", "-q", "-L", "btrlab", img) }, "btrfs", "btrlab", Raw, nil},
		{"luks", 32 << 20, func(t *testing.T, img string) {
			key := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(key, []byte("not a secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			run(t, "cryptsetup", "luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", key, img)
		}, "luks", "", Raw, nil},
		{"exfat", 32 << 20, func(t *testing.T, img string) { run(t, "mkfs.exfat", "-L", "exlab", img) }, "exfat", "", Raw, nil},
		{"ext4-bigalloc", 64 << 20, func(t *testing.T, img string) { run(t, "mkfs.ext4", "-q", "-F", "-L", "big", "-O", "bigalloc", img) }, "ext4", "big", Raw, nil},
		{"ext4-journal-device", 16 << 20, func(t *testing.T, img string) { run(t, "mkfs.ext4", "-q", "-F", "-O", "journal_dev", img) }, "ext4", "", Raw, nil},
		{"bitlocker", 8 << 20, func(t *testing.T, img string) { patch(t, img, 0, "\xeb\x58\x90-FVE-FS-") }, "bitlocker", "", Raw, nil},
		{"bitlocker-over-ext4", 8 << 20, func(t *testing.T, img string) {
			run(t, "mkfs.ext4", "-q", "-F", img) // stale superblock at 1024 stays
			patch(t, img, 0, "\xeb\x58\x90-FVE-FS-")
		}, "bitlocker", "", Raw, nil},
		{"ext4-and-fat", 8 << 20, func(t *testing.T, img string) {
			run(t, "mkfs.ext4", "-q", "-F", img)
			b := make([]byte, 512) // a FAT16 boot sector in the ext4 boot block
			copy(b, "\xeb\x3c\x90mkfs.fat\x00\x02\x04\x04\x00\x02\x00\x02\x00\x40\xf8\x20\x00")
			b[510], b[511] = 0x55, 0xaa
			patch(t, img, 0, string(b))
		}, "", "", Raw, nil},
		{"hibernated-swap", 8 << 20, func(t *testing.T, img string) {
			run(t, "mkswap", img)
			patch(t, img, 4096-10, "S1SUSPEND\x00")
		}, "swap", "", Raw, nil},
		{"zeros", 8 << 20, nil, "", "", Raw, nil},
		{"tiny", 1000, nil, "", "", Raw, nil},
		{"empty", 0, nil, "", "", Raw, []Extent{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "part.img")
			testutil.SparseFile(t, img, tc.size)
			if tc.make != nil {
				tc.make(t, img)
			}
			m := mustMap(t, img)
			want := tc.want
			if want == nil {
				want = []Extent{{0, tc.size}}
			}
			if m.FS != tc.fs || m.Label != tc.label || m.Mode != tc.mode {
				t.Errorf("Read(%s) = %s %q %s, want %s %q %s", tc.name, m.FS, m.Label, m.Mode, tc.fs, tc.label, tc.mode)
			}
			if diff := cmp.Diff(want, m.Extents, cmp.Comparer(func(a, b []Extent) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })); diff != "" {
				t.Errorf("Read(%s).Extents: (-want +got)\n%s", tc.name, diff)
			}
			if m.Mode != UsedBlocks && m.Reason == "" {
				t.Errorf("Read(%s).Reason is empty, want why it is imaged %s", tc.name, m.Mode)
			}
			t.Logf("%s: %s", tc.name, m.Reason)
		})
	}
}

// patch writes s at off in the file img.
func patch(t *testing.T, img string, off int64, s string) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		t.Fatal(err)
	}
}

// TestSwapCopy checks that the header page alone is a working swap area:
// blkid finds the same UUID and label in the copy.
func TestSwapCopy(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "swap.img")
	testutil.SparseFile(t, img, 16<<20)
	const uuid = "6f1c2a4e-1b6f-4a8e-9d3c-2f0e5b7a9c11"
	run(t, "mkswap", "-L", "swp", "-U", uuid, img)
	m := mustMap(t, img)
	if m.UUID != uuid || m.Label != "swp" || m.Total != 16<<20 || m.Used != 4096 {
		t.Errorf("Read(swap) = %+v, want UUID %s, label swp, 16 MiB total, 4096 used", m.Summary, uuid)
	}
	got := run(t, "blkid", "-p", "-o", "export", copyUsed(t, img, m))
	for _, want := range []string{"TYPE=swap", "UUID=" + uuid, "LABEL=swp"} {
		if !strings.Contains(got, want) {
			t.Errorf("blkid of the copied header page = %q, want %s in it", got, want)
		}
	}
}
