// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// plantBootloader puts random "boot code" in sector 0 (bytes 0..439) and in
// the gap between the table and the first partition, as GRUB does.
func plantBootloader(t *testing.T, path string, gapFrom, gapTo int64) (code, gap []byte) {
	t.Helper()
	code = randomBytes(1, 440)
	gap = randomBytes(2, int(gapTo-gapFrom))
	testutil.PatchFile(t, path, 0, code)
	testutil.PatchFile(t, path, gapFrom, gap)
	return code, gap
}

// dumpWithout returns `sfdisk --dump` without the lines naming the device
// and those listed in drop (e.g. "last-lba").
func dumpWithout(t *testing.T, path string, drop ...string) string {
	t.Helper()
	var keep []string
	for _, line := range strings.Split(run(t, "", "sfdisk", "--dump", path), "\n") {
		skip := strings.HasPrefix(line, "device:")
		for _, d := range drop {
			skip = skip || strings.HasPrefix(line, d+":")
		}
		if !skip {
			// Partition lines start with the image path: keep only the number.
			line = regexp.MustCompile(`^\S+?(\d+) :`).ReplaceAllString(line, "p$1 :")
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// sgdiskVerifyClean fails t unless `sgdisk -v` finds no problems.
func sgdiskVerifyClean(t *testing.T, path string) {
	t.Helper()
	out := run(t, "", "sgdisk", "-v", path)
	if !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v %s:\n%s", path, out)
	}
}

func TestWriteTableGPT(t *testing.T) {
	ctx := context.Background()
	const size = 40 * mib
	src := sfdiskImage(t, size, gptScript)
	code, gap := plantBootloader(t, src, 34*512, 2048*512)
	l := readImageLayout(t, src)
	d, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	saved, err := CaptureRegions(ctx, d, l)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := regionKinds(saved), "head:0+1048576 gpt-backup:41926144+16896"; got != want {
		t.Fatalf("CaptureRegions(gpt) = %s, want %s", got, want)
	}
	// The saved regions travel in a manifest as JSON.
	saved = jsonRoundTrip(t, saved)
	srcDump := dumpWithout(t, src, "last-lba")

	for _, tc := range []struct {
		name   string
		target int64
	}{
		{"same-size", size},
		{"larger", 64*mib + 512*7},
		{"smaller-fits", 34 * mib},
		{"exactly-min", l.MinTargetSize()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := sparseFile(t, "target.img", tc.target)
			w, err := OpenWrite(dst)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteTable(ctx, w, tc.target, saved, l); err != nil {
				t.Fatalf("WriteTable(%s) = %v", tc.name, err)
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			sgdiskVerifyClean(t, dst)
			if got := dumpWithout(t, dst, "last-lba"); got != srcDump {
				t.Errorf("sfdisk --dump after WriteTable(%s):\n%s\nwant\n%s", tc.name, got, srcDump)
			}
			got := readImageLayout(t, dst)
			if got.DiskGUID != l.DiskGUID || !got.PrimaryValid || !got.BackupValid || len(got.Warnings) > 0 {
				t.Errorf("after WriteTable(%s): disk GUID %s valid %v/%v warnings %q; want %s, both valid, no warnings",
					tc.name, got.DiskGUID, got.PrimaryValid, got.BackupValid, got.Warnings, l.DiskGUID)
			}
			if diff := cmp.Diff(l.Partitions, got.Partitions); diff != "" {
				t.Errorf("partitions after WriteTable(%s) (-captured +restored):\n%s", tc.name, diff)
			}
			if wantLast := uint64(tc.target/512 - 1); got.BackupLBA != wantLast || got.AlternateLBA != wantLast {
				t.Errorf("after WriteTable(%s): backup at LBA %d, AlternateLBA %d; want both %d", tc.name, got.BackupLBA, got.AlternateLBA, wantLast)
			}
			if wantUsable := uint64(tc.target/512 - 34); tc.target != size && got.LastUsableLBA != wantUsable {
				t.Errorf("after WriteTable(%s): LastUsableLBA %d, want %d", tc.name, got.LastUsableLBA, wantUsable)
			}
			if !bytes.Equal(readRange(t, dst, 0, 440), code) || !bytes.Equal(readRange(t, dst, 34*512, int64(len(gap))), gap) {
				t.Errorf("after WriteTable(%s): boot code in sector 0 or in the gap before the first partition changed", tc.name)
			}
			// Only these head bytes may change: the 0xEE entry's size, and the
			// primary header's CRC, AlternateLBA and LastUsableLBA.
			allowed := map[int64]bool{}
			for _, span := range [][2]int64{{446 + 12, 4}, {512 + 16, 4}, {512 + 32, 8}, {512 + 48, 8}} {
				for i := span[0]; i < span[0]+span[1]; i++ {
					allowed[i] = true
				}
			}
			headGot, headWant := readRange(t, dst, 0, mib), saved[0].Data
			for i := range headWant {
				if headGot[i] != headWant[i] && (tc.target == size || !allowed[int64(i)]) {
					t.Errorf("WriteTable(%s): head byte %d = %#x, captured %#x", tc.name, i, headGot[i], headWant[i])
				}
			}
			if tc.target == size {
				for _, r := range saved {
					if !bytes.Equal(readRange(t, dst, r.Offset, r.Length), r.Data) {
						t.Errorf("WriteTable(same size): %s region at %d not restored byte for byte", r.Kind, r.Offset)
					}
				}
			}
		})
	}
}

func TestWriteTableMBR(t *testing.T) {
	ctx := context.Background()
	const size = 24 * mib
	src := sfdiskImage(t, size, mbrScript)
	code, gap := plantBootloader(t, src, 512, 2048*512)
	l := readImageLayout(t, src)
	d, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	saved, err := CaptureRegions(ctx, d, l)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := regionKinds(saved), "head:0+1048576 ebr:8388608+512 ebr:11534336+512"; got != want {
		t.Fatalf("CaptureRegions(mbr) = %s, want %s", got, want)
	}
	srcDump := dumpWithout(t, src)
	for _, tc := range []struct {
		name   string
		target int64
	}{
		{"same-size", size},
		{"larger", 100 * mib},
		{"smaller-fits", 17 * mib},
		{"smaller-last-partition-at-end", 16 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := sparseFile(t, "target.img", tc.target)
			// A stale backup GPT header at the target's end must not survive.
			testutil.PatchFile(t, dst, tc.target-512, []byte("EFI PART"))
			w, err := OpenWrite(dst)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteTable(ctx, w, tc.target, saved, l); err != nil {
				t.Fatalf("WriteTable(%s) = %v", tc.name, err)
			}
			w.Close()
			if got := dumpWithout(t, dst); got != srcDump {
				t.Errorf("sfdisk --dump after WriteTable(%s):\n%s\nwant\n%s", tc.name, got, srcDump)
			}
			for _, r := range saved {
				if !bytes.Equal(readRange(t, dst, r.Offset, r.Length), r.Data) {
					t.Errorf("WriteTable(%s): %s region at %d not restored byte for byte", tc.name, r.Kind, r.Offset)
				}
			}
			if !bytes.Equal(readRange(t, dst, 0, 440), code) || !bytes.Equal(readRange(t, dst, 512, int64(len(gap))), gap) {
				t.Errorf("after WriteTable(%s): boot code in sector 0 or the MBR gap changed", tc.name)
			}
			if b := readRange(t, dst, tc.target-512, 8); string(b) == "EFI PART" && tc.target > 16*mib {
				t.Errorf("after WriteTable(%s): stale GPT header left in the last sector", tc.name)
			}
			got := readImageLayout(t, dst)
			if diff := cmp.Diff(l.Partitions, got.Partitions); diff != "" || got.Signature != 0xdeadbeef {
				t.Errorf("after WriteTable(%s): signature %08x, partitions (-captured +restored):\n%s", tc.name, got.Signature, diff)
			}
		})
	}
}

func TestWriteTableTooSmall(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		size   int64
		script string
		target int64
	}{
		{"gpt-below-last-partition", 40 * mib, gptScript, 12 * mib},
		{"gpt-no-room-for-backup", 40 * mib, gptScript, 15*mib + 32*512},
		{"mbr-below-last-partition", 24 * mib, mbrScript, 12 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := sfdiskImage(t, tc.size, tc.script)
			l := readImageLayout(t, src)
			saved, err := CaptureRegions(ctx, readerOf(t, src), l)
			if err != nil {
				t.Fatal(err)
			}
			dst := sparseFile(t, "target.img", tc.target)
			testutil.PatchFile(t, dst, 0, randomBytes(3, 4096))
			before := testutil.FileHash(t, dst)
			w, err := OpenWrite(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			err = WriteTable(ctx, w, tc.target, saved, l)
			if !errors.Is(err, ErrTooSmall) {
				t.Fatalf("WriteTable(%s, %d bytes) = %v, want ErrTooSmall", tc.name, tc.target, err)
			}
			for _, want := range []string{"target disk " + dst + " is " + itoa(tc.target) + " bytes", "need " + itoa(l.MinTargetSize()) + " bytes", "at least"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("WriteTable(%s) error %q does not say %q", tc.name, err, want)
				}
			}
			if after := testutil.FileHash(t, dst); after != before {
				t.Errorf("WriteTable(%s) refused but changed the target", tc.name)
			}
		})
	}
}

func TestWriteTableMismatch(t *testing.T) {
	ctx := context.Background()
	src := sfdiskImage(t, 40*mib, gptScript)
	l := readImageLayout(t, src)
	saved, err := CaptureRegions(ctx, readerOf(t, src), l)
	if err != nil {
		t.Fatal(err)
	}
	other := *l
	other.Partitions = append([]Partition(nil), l.Partitions...)
	other.Partitions[2].GUID = "00000000-0000-0000-0000-000000000000"
	dst := sparseFile(t, "target.img", 40*mib)
	w, err := OpenWrite(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := WriteTable(ctx, w, 40*mib, saved, &other); !errors.Is(err, ErrMismatch) {
		t.Errorf("WriteTable(layout with another GUID) = %v, want ErrMismatch", err)
	}
}

// A primary GPT damaged at capture is rebuilt from the backup on restore.
func TestWriteTableRepairsPrimary(t *testing.T) {
	ctx := context.Background()
	src := sfdiskImage(t, 40*mib, gptScript)
	want := dumpWithout(t, src)
	testutil.PatchFile(t, src, 512+40, []byte{0x5a})
	l := readImageLayout(t, src)
	saved, err := CaptureRegions(ctx, readerOf(t, src), l)
	if err != nil {
		t.Fatal(err)
	}
	dst := sparseFile(t, "target.img", 40*mib)
	w, err := OpenWrite(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(ctx, w, 40*mib, saved, l); err != nil {
		t.Fatalf("WriteTable(damaged primary) = %v", err)
	}
	w.Close()
	sgdiskVerifyClean(t, dst)
	if got := dumpWithout(t, dst); got != want {
		t.Errorf("sfdisk --dump after repair:\n%s\nwant\n%s", got, want)
	}
}

func regionKinds(rs []SavedRegion) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Kind+":"+itoa(r.Offset)+"+"+itoa(r.Length))
	}
	return strings.Join(s, " ")
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func jsonRoundTrip(t *testing.T, saved []SavedRegion) []SavedRegion {
	t.Helper()
	b, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	var out []SavedRegion
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func readerOf(t testing.TB, path string) *Device {
	t.Helper()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// A hybrid MBR's bytes (its extra entries, boot code, signature) survive a
// restore onto a larger disk untouched; only the GPT moves.
func TestWriteTableHybridLarger(t *testing.T) {
	ctx := context.Background()
	src := sfdiskImage(t, 40*mib, gptScript)
	run(t, "", "sgdisk", "-h", "1:3", src)
	testutil.PatchFile(t, src, 0, randomBytes(4, 440))
	l := readImageLayout(t, src)
	if !l.Hybrid {
		t.Fatalf("ReadLayout(sgdisk -h) Hybrid = false, want true")
	}
	saved, err := CaptureRegions(ctx, readerOf(t, src), l)
	if err != nil {
		t.Fatal(err)
	}
	dst := sparseFile(t, "target.img", 64*mib)
	w, err := OpenWrite(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(ctx, w, 64*mib, saved, l); err != nil {
		t.Fatalf("WriteTable(hybrid, larger) = %v", err)
	}
	w.Close()
	if got, want := readRange(t, dst, 0, 512), readRange(t, src, 0, 512); !bytes.Equal(got, want) {
		t.Errorf("WriteTable(hybrid, larger): MBR sector changed")
	}
	got := readImageLayout(t, dst)
	if !got.Hybrid || !got.PrimaryValid || !got.BackupValid || !cmp.Equal(got.Partitions, l.Partitions) {
		t.Errorf("after WriteTable(hybrid, larger): hybrid %v, valid %v/%v, partitions equal %v; want all true",
			got.Hybrid, got.PrimaryValid, got.BackupValid, cmp.Equal(got.Partitions, l.Partitions))
	}
	if got, want := dumpWithout(t, dst, "last-lba"), dumpWithout(t, src, "last-lba"); got != want {
		t.Errorf("sfdisk --dump after WriteTable(hybrid, larger):\n%s\nwant\n%s", got, want)
	}
}
