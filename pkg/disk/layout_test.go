// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

const (
	mib = 1 << 20

	gptScript = `label: gpt
label-id: 3F2504E0-4F89-11D3-9A0C-0305E82C3301
start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=11111111-2222-3333-4444-555555555501, name="EFI system partition", attrs="RequiredPartition"
size=2048, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE, uuid=11111111-2222-3333-4444-555555555502, name="Microsoft reserved partition", attrs="GUID:63"
size=8192, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, uuid=11111111-2222-3333-4444-555555555503, name="Basic data partition", attrs="GUID:60,62,63"
size=2048, type=DE94BBA4-06D1-4D40-A16A-BFD50179D6AC, uuid=11111111-2222-3333-4444-555555555504, name="Recovery", attrs="RequiredPartition GUID:63"
size=2048, type=21686148-6449-6E6F-744E-656564454649, uuid=11111111-2222-3333-4444-555555555505, name="BIOS boot"
size=2048, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, uuid=11111111-2222-3333-4444-555555555506, name="swap ü"
size=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-3333-4444-555555555507, name="root", attrs="LegacyBIOSBootable"
size=2048, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, uuid=11111111-2222-3333-4444-555555555508
size=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-3333-4444-555555555509, name="a name of thirty-six characters long"
size=2048, type=933AC7E1-2EB4-4F13-B844-0E14E2AEF915, uuid=11111111-2222-3333-4444-55555555550A, name="home"
`
	mbrScript = `label: dos
label-id: 0xdeadbeef
start=2048, size=8192, type=c, bootable
size=4096, type=83
size=2048, type=83
size=16384, type=5
size=4096, type=83
size=6144, type=82
`
)

// sfdiskJSON is the part of `sfdisk --json` the tests compare with.
type sfdiskJSON struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    int64  `json:"start"`
			Size     int64  `json:"size"`
			Type     string `json:"type"`
			UUID     string `json:"uuid"`
			Name     string `json:"name"`
			Bootable bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// sfdiskLayout reads an image's table with `sfdisk --json` and, for GPT
// attributes, `sgdisk -i`, as a Layout to compare with.
func sfdiskLayout(t *testing.T, path string) *Layout {
	t.Helper()
	var j sfdiskJSON
	if err := json.Unmarshal([]byte(run(t, "", "sfdisk", "--json", path)), &j); err != nil {
		t.Fatal(err)
	}
	pt := j.PartitionTable
	l := &Layout{Type: map[string]string{"gpt": TypeGPT, "dos": TypeMBR}[pt.Label], SectorSize: pt.SectorSize}
	if l.Type == TypeGPT {
		l.DiskGUID = pt.ID
	} else {
		sig, err := strconv.ParseUint(strings.TrimPrefix(pt.ID, "0x"), 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		l.Signature = uint32(sig)
	}
	digits := regexp.MustCompile(`[0-9]+$`)
	for _, p := range pt.Partitions {
		idx, _ := strconv.Atoi(digits.FindString(p.Node))
		q := Partition{Index: idx, Start: p.Start * 512, Size: p.Size * 512, GUID: p.UUID, Name: p.Name, Bootable: p.Bootable}
		if l.Type == TypeGPT {
			q.Type = p.Type
			out := run(t, "", "sgdisk", "-i", strconv.Itoa(idx), path)
			m := regexp.MustCompile(`Attribute flags: ([0-9A-Fa-f]+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("sgdisk -i %d: no attribute flags in\n%s", idx, out)
			}
			q.Attributes, _ = strconv.ParseUint(m[1], 16, 64)
		} else {
			q.Type = "0x" + fmt.Sprintf("%02s", p.Type)
			q.Logical = idx > 4
			q.Extended = p.Type == "5" || p.Type == "f" || p.Type == "85"
			if q.Extended {
				// sfdisk shows the container's full size; so do we.
				q.Size = p.Size * 512
			}
		}
		l.Partitions = append(l.Partitions, q)
	}
	return l
}

func TestReadLayoutMatchesSfdisk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int64
		script string
		setup  func(t *testing.T, path string)
	}{
		{name: "gpt-ten-partitions", size: 40 * mib, script: gptScript},
		{name: "mbr-extended-two-logicals", size: 24 * mib, script: mbrScript},
		{name: "gpt-hybrid", size: 40 * mib, script: gptScript, setup: func(t *testing.T, p string) {
			run(t, "", "sgdisk", "-h", "1:3", p)
		}},
		{name: "gpt-empty", size: 4 * mib, script: "label: gpt\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := sfdiskImage(t, tc.size, tc.script)
			if tc.setup != nil {
				tc.setup(t, p)
			}
			got := readImageLayout(t, p)
			want := sfdiskLayout(t, p)
			opts := cmp.Options{
				cmp.FilterPath(func(p cmp.Path) bool {
					switch p.Last().String() {
					case ".Type", ".SectorSize", ".DiskGUID", ".Signature", ".Partitions":
						return false
					}
					return len(p) == 3 // other Layout fields
				}, cmp.Ignore()),
				cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".TypeName" }, cmp.Ignore()),
			}
			if want.Type == TypeGPT {
				// sfdisk does not show the protective MBR's signature.
				opts = append(opts, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Signature" }, cmp.Ignore()))
			}
			if want.Partitions == nil {
				want.Partitions = []Partition{}
			}
			if diff := cmp.Diff(want, got, opts); diff != "" {
				t.Errorf("ReadLayout(%s) differs from sfdisk (-sfdisk +ReadLayout):\n%s", tc.name, diff)
			}
			if len(got.Warnings) != 0 {
				t.Errorf("ReadLayout(%s).Warnings = %q, want none", tc.name, got.Warnings)
			}
			if tc.name == "gpt-hybrid" && !got.Hybrid {
				t.Errorf("ReadLayout(hybrid).Hybrid = false, want true")
			}
		})
	}
}

func TestReadLayoutTypeNames(t *testing.T) {
	l := readImageLayout(t, sfdiskImage(t, 40*mib, gptScript))
	m := readImageLayout(t, sfdiskImage(t, 24*mib, mbrScript))
	for _, tc := range []struct {
		l    *Layout
		i    int
		want string
	}{
		{l, 0, "EFI System"}, {l, 1, "Microsoft reserved"}, {l, 2, "Microsoft basic data"},
		{l, 4, "BIOS boot"}, {l, 5, "Linux swap"}, {l, 6, "Linux filesystem"},
		{m, 0, "W95 FAT32 (LBA)"}, {m, 1, "Linux"}, {m, 3, "Extended"}, {m, 5, "Linux swap / Solaris"},
	} {
		if got := tc.l.Partitions[tc.i].TypeName; got != tc.want {
			t.Errorf("%s partition %d TypeName = %q, want %q", tc.l.Type, tc.l.Partitions[tc.i].Index, got, tc.want)
		}
	}
}

func TestReadLayoutNone(t *testing.T) {
	p := sparseFile(t, "blank.img", 2*mib)
	l := readImageLayout(t, p)
	if l.Type != TypeNone || len(l.Partitions) != 0 || l.Regions() != nil {
		t.Errorf("ReadLayout(blank) = %+v, regions %v; want type none, no partitions, no regions", l, l.Regions())
	}
}

func TestReadLayoutDamagedPrimary(t *testing.T) {
	p := sfdiskImage(t, 40*mib, gptScript)
	want := readImageLayout(t, p)
	for _, tc := range []struct {
		name string
		off  int64
	}{
		{"header", 512 + 40},   // primary header's first-usable field: header CRC fails
		{"entries", 1024 + 17}, // a byte of the first entry's GUID: entries CRC fails
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := sfdiskImage(t, 40*mib, gptScript)
			testutil.PatchFile(t, q, tc.off, []byte{0x5a})
			got := readImageLayout(t, q)
			if got.PrimaryValid || !got.BackupValid || len(got.Warnings) == 0 || !strings.Contains(got.Warnings[0], "primary GPT header is damaged") {
				t.Errorf("ReadLayout(damaged %s): PrimaryValid=%v BackupValid=%v Warnings=%q; want the backup used with a warning",
					tc.name, got.PrimaryValid, got.BackupValid, got.Warnings)
			}
			if diff := cmp.Diff(want.Partitions, got.Partitions); diff != "" || got.DiskGUID != want.DiskGUID {
				t.Errorf("ReadLayout(damaged %s) partitions differ from the intact disk's:\n%s", tc.name, diff)
			}
		})
	}
}

// A FAT filesystem made on the whole disk has 0x55AA in sector 0 but no
// partition table.
func TestReadLayoutSuperfloppy(t *testing.T) {
	p := sparseFile(t, "fat.img", 8*mib)
	run(t, "", "mkfs.vfat", p)
	if l := readImageLayout(t, p); l.Type != TypeNone || len(l.Partitions) != 0 {
		t.Errorf("ReadLayout(whole-disk FAT) = %s with %d partitions, want none", l.Type, len(l.Partitions))
	}
}

// A disk image grown after partitioning (a VM disk enlarged) keeps its
// backup GPT at the old end; it is found there and restored exactly.
func TestReadLayoutGrownDisk(t *testing.T) {
	p := sfdiskImage(t, 40*mib, gptScript)
	if err := os.Truncate(p, 48*mib); err != nil {
		t.Fatal(err)
	}
	l := readImageLayout(t, p)
	if !l.PrimaryValid || !l.BackupValid || l.BackupLBA != 40*mib/512-1 || l.Size != 48*mib {
		t.Fatalf("ReadLayout(grown) = valid %v/%v, backup LBA %d, size %d; want both valid, backup at %d, size %d",
			l.PrimaryValid, l.BackupValid, l.BackupLBA, l.Size, 40*mib/512-1, 48*mib)
	}
	saved, err := CaptureRegions(context.Background(), readerOf(t, p), l)
	if err != nil {
		t.Fatal(err)
	}
	dst := sparseFile(t, "target.img", 48*mib)
	w, err := OpenWrite(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := WriteTable(context.Background(), w, 48*mib, saved, l); err != nil {
		t.Fatalf("WriteTable(grown, same size) = %v", err)
	}
	for _, r := range saved {
		if !bytes.Equal(readRange(t, dst, r.Offset, r.Length), r.Data) {
			t.Errorf("WriteTable(grown, same size): %s region at %d not restored byte for byte", r.Kind, r.Offset)
		}
	}
}
