// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
)

func TestParseFstab(t *testing.T) {
	in := `# /etc/fstab
UUID=0a1b / ext4 errors=remount-ro 0 1
PARTUUID=6A0C2A4E-0002 /boot/efi vfat umask=0077 0 1
LABEL=home /home ext4 defaults 0 2
/dev/mapper/vg-data /srv/my\040data xfs defaults 0 0
/swapfile none swap sw 0 0
proc /proc proc defaults 0 0
/srv/my\040data/www /var/www none bind 0 0
broken line
`
	want := []fstabEntry{
		{"UUID=0a1b", "/", "ext4"}, {"PARTUUID=6A0C2A4E-0002", "/boot/efi", "vfat"},
		{"LABEL=home", "/home", "ext4"}, {"/dev/mapper/vg-data", "/srv/my data", "xfs"},
	}
	got := parseFstab(strings.NewReader(in))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseFstab (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		path, dir string
	}{{"/home/jane", "/home"}, {"/home", "/home"}, {"/homework", ""}, {"/root", ""}, {"/srv/my data/x", "/srv/my data"}} {
		e, ok := mountFor(got, tc.path)
		if tc.dir == "" && ok || tc.dir != "" && (!ok || e.Dir != tc.dir) {
			t.Errorf("mountFor(%q) = %q, %v; want %q", tc.path, e.Dir, ok, tc.dir)
		}
	}
}

func TestSpecMatches(t *testing.T) {
	p := repo.Partition{UUID: "0a1b-cc", Label: "home", GUID: "6A0C2A4E-0002", Name: "Linux home"}
	for spec, want := range map[string]bool{
		"UUID=0A1B-CC": true, "/dev/disk/by-uuid/0a1b-cc": true, "LABEL=home": true, "LABEL=Home": false,
		"PARTUUID=6a0c2a4e-0002": true, "PARTLABEL=Linux home": true, "/dev/sda3": false, "UUID=": false,
		"/dev/disk/by-label/home": true,
	} {
		if got := specMatches(spec, p); got != want {
			t.Errorf("specMatches(%q) = %v, want %v", spec, got, want)
		}
	}
}

// FuzzParseFstab: an fstab from a restored disk is read without panic, and
// every entry it gives is an absolute, clean mount point.
func FuzzParseFstab(f *testing.F) {
	testutil.Seed(f, "UUID=0a1b / ext4 defaults 0 1\nLABEL=home /home ext4 defaults 0 2\n")
	testutil.Seed(f, "/dev/sda1 /mnt/a\\040b xfs\n# comment\n\n/swap none swap sw\n")
	testutil.Seed(f, "x /a/../b ext4\n\\\\\\ /\\0 y\n")
	f.Fuzz(func(t *testing.T, in string) {
		for _, e := range parseFstab(strings.NewReader(in)) {
			if !strings.HasPrefix(e.Dir, "/") || path.Clean(e.Dir) != e.Dir {
				t.Fatalf("parseFstab(%q) gave mount point %q", in, e.Dir)
			}
			mountFor([]fstabEntry{e}, e.Dir+"/x")
		}
	})
}
