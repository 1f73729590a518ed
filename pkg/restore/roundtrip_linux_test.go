// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
	"github.com/rewind-backup/rewind/pkg/store/retry"
	"github.com/rewind-backup/rewind/pkg/store/smb"
)

var testDisks = []struct {
	name  string
	build func(t testing.TB, dir string) *testDisk
}{
	{"windows11-gpt", win11Disk},
	{"linux-gpt", func(t testing.TB, dir string) *testDisk { return linuxDisk(t, dir, 16) }},
	{"mbr-bios-logical", mbrBIOSDisk},
}

// roundTrip captures a test disk into r, restores it onto a blank image of
// the same size and checks the result as a technician would.
func roundTrip(t *testing.T, r *repo.Repository, d *testDisk, machine string) {
	t.Helper()
	start := time.Now()
	res := captureImage(t, r, d.path, machine)
	capDur := time.Since(start)
	img := res.Snapshot.Image
	// Small gaps between used extents are read over, not skipped; the
	// zeroed ranges (an ext4 journal's log) are not read.
	if u := img.UsedBytes() - img.ZeroedBytes(); res.Stats.NewBytes == 0 || res.Stats.ReadBytes < u || res.Stats.ReadBytes > u+u/20 {
		t.Errorf("capture stats %+v: want new bytes, and ReadBytes within 5%% above the image's used bytes less its zeroed ones, %d", res.Stats, u)
	}
	for _, p := range img.Disks[0].Partitions {
		t.Logf("partition %d: fs %q mode %s, %d of %d bytes used, %d chunks", p.Index, p.FS, p.Mode, p.UsedBytes, p.Length, len(p.Chunks))
	}

	// The same disk again: no chunk data moves.
	if again := captureImage(t, r, d.path, machine); again.Stats.NewBytes != 0 || again.Stats.StoredBytes != res.Stats.StoredBytes {
		t.Errorf("re-capture of the unchanged disk: %+v; want no new bytes, StoredBytes %d", again.Stats, res.Stats.StoredBytes)
	}

	dst := filepath.Join(t.TempDir(), "target.img")
	testutil.SparseFile(t, dst, d.size)
	start = time.Now()
	sum, err := restoreImage(t, r, res.Snapshot, dst, Options{})
	if err != nil {
		t.Fatalf("Restore = %v", err)
	}
	resDur := time.Since(start)
	t.Logf("%d used bytes: capture %v (%.0f MB/s), restore %v (%.0f MB/s); restore %+v",
		img.UsedBytes(), capDur.Round(time.Millisecond), float64(img.UsedBytes())/capDur.Seconds()/1e6,
		resDur.Round(time.Millisecond), float64(img.UsedBytes())/resDur.Seconds()/1e6, *sum)
	if !sum.Verified || sum.VerifiedBytes+sum.Skipped < img.UsedBytes() {
		t.Errorf("Restore verified %v, %d bytes, and skipped %d (checked in place); want true, %d in all", sum.Verified, sum.VerifiedBytes, sum.Skipped, img.UsedBytes())
	}
	if got, want := tableDump(t, dst), tableDump(t, d.path); got != want {
		t.Errorf("partition table after the restore:\n%s\nwant:\n%s", got, want)
	}
	head := make([]byte, d.parts[0].off())
	want := make([]byte, len(head))
	readAt(t, dst, head, 0)
	readAt(t, d.path, want, 0)
	if string(head) != string(want) {
		t.Errorf("the bytes before the first partition (boot code, tables) differ after the restore")
	}
	checkUsedIdentical(t, img, d.path, dst)
	checkFilesystems(t, d, dst)

	// Verify agrees, on its own.
	target, err := disk.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if _, err := Verify(context.Background(), img, []Source{target}, VerifyOptions{}); err != nil {
		t.Errorf("Verify(restored disk) = %v", err)
	}
}

func readAt(t testing.TB, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripLocal(t *testing.T) {
	for _, td := range testDisks {
		t.Run(td.name, func(t *testing.T) {
			d := td.build(t, t.TempDir())
			r, _ := newLocalRepo(t, 0)
			roundTrip(t, r, d, "ws1")
		})
	}
}

// smbRepo makes a repository in folder of the share, through the retry
// wrapper; retries counts the retries.
func smbRepo(t testing.TB, srv *sambatest.Server, folder string, retries *atomic.Int64) *repo.Repository {
	t.Helper()
	return smbRepoV(t, srv, folder, retries, 0)
}

// smbRepoV makes a repository of format version (0: the default) on the
// share.
func smbRepoV(t testing.TB, srv *sambatest.Server, folder string, retries *atomic.Int64, version int) *repo.Repository {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Join(srv.ShareDir, folder), 0o777); err != nil {
		t.Fatal(err)
	}
	cfg, err := smb.ParseURL(srv.URL() + "/" + folder)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = srv.Password()
	s, err := smb.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rs := retry.New(s, retry.Options{Initial: 100 * time.Millisecond, Max: time.Second, MaxElapsed: time.Minute,
		Notify: func(op, name string, err error, wait time.Duration) {
			retries.Add(1)
			t.Logf("retrying %s %s after %v: %v", op, name, wait, err)
		}})
	t.Cleanup(func() { rs.Close() })
	r, err := repo.Init(ctx, rs, repo.InitOptions{Version: version})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundTripSMB(t *testing.T) {
	srv := sambatest.Start(t, sambatest.Options{})
	var retries atomic.Int64
	for i, td := range testDisks {
		t.Run(td.name, func(t *testing.T) {
			d := td.build(t, t.TempDir())
			r := smbRepo(t, srv, fmt.Sprintf("repo%d", i), &retries)
			roundTrip(t, r, d, "ws1")
		})
	}
}

// TestLargerAndSmallerTargets restores onto a larger disk (the GPT backup
// moves to its end) and refuses a too small one without writing to it.
func TestLargerAndSmallerTargets(t *testing.T) {
	d := linuxDisk(t, t.TempDir(), 8)
	r, _ := newLocalRepo(t, 0)
	snap := captureImage(t, r, d.path, "ws1").Snapshot
	dir := t.TempDir()

	big := filepath.Join(dir, "big.img")
	testutil.SparseFile(t, big, d.size+40<<20)
	sum, err := restoreImage(t, r, snap, big, Options{})
	if err != nil || !sum.Verified {
		t.Fatalf("Restore(larger target) = %+v, %v; want verified", sum, err)
	}
	out := run(t, "sgdisk", "-v", big)
	if !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v on the larger target:\n%s", out)
	}
	got, want := lastLBA.ReplaceAllString(tableDump(t, big), ""), lastLBA.ReplaceAllString(tableDump(t, d.path), "")
	if got != want {
		t.Errorf("partition table on the larger target:\n%s\nwant (but last-lba):\n%s", got, want)
	}
	checkFilesystems(t, d, big)
	target, err := disk.Open(big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), snap.Image, []Source{target}, VerifyOptions{}); err != nil {
		t.Errorf("Verify(larger target) = %v", err)
	}
	target.Close()

	// Too small: one MiB short of the last partition's end.
	small := filepath.Join(dir, "small.img")
	testutil.SparseFile(t, small, d.parts[len(d.parts)-1].off()+d.parts[len(d.parts)-1].len()-1<<20)
	testutil.PatchFile(t, small, 0, []byte("an older disk's first bytes"))
	testutil.PatchFile(t, small, 20<<20, []byte("data in the middle"))
	before := testutil.FileHash(t, small)
	_, err = restoreImage(t, r, snap, small, Options{})
	if !errors.Is(err, ErrTooSmall) {
		t.Errorf("Restore(too small target) = %v, want ErrTooSmall", err)
	} else {
		t.Logf("too small: %v", err)
	}
	if after := testutil.FileHash(t, small); after != before {
		t.Errorf("Restore(too small target) changed the target")
	}
}

// TestLargerTargetMBR restores the MBR disk with a boot loader and a
// logical partition onto a larger disk: boot code, table and EBRs as
// captured, filesystems intact.
func TestLargerTargetMBR(t *testing.T) {
	d := mbrBIOSDisk(t, t.TempDir())
	r, _ := newLocalRepo(t, 0)
	snap := captureImage(t, r, d.path, "ws1").Snapshot
	big := filepath.Join(t.TempDir(), "big.img")
	testutil.SparseFile(t, big, d.size+32<<20)
	sum, err := restoreImage(t, r, snap, big, Options{})
	if err != nil || !sum.Verified {
		t.Fatalf("Restore(larger MBR target) = %+v, %v; want verified", sum, err)
	}
	if got, want := tableDump(t, big), tableDump(t, d.path); got != want {
		t.Errorf("partition table on the larger target:\n%s\nwant:\n%s", got, want)
	}
	head, want := make([]byte, d.parts[0].off()), make([]byte, d.parts[0].off())
	readAt(t, big, head, 0)
	readAt(t, d.path, want, 0)
	if string(head) != string(want) {
		t.Errorf("boot code and the gap before the first partition differ on the larger target")
	}
	checkFilesystems(t, d, big)
}
