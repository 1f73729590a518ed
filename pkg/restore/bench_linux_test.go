// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package restore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-backup/rewind/pkg/disk"
	"github.com/rewind-backup/rewind/pkg/internal/sambatest"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
	"github.com/rewind-backup/rewind/pkg/repo"
)

// BenchmarkCaptureRestore images a 1 GiB GPT disk whose ext4 partition is
// about 60% full (incompressible and text files) into a local repository
// and one on a Samba share on loopback,
// restores it onto a blank disk and then over itself, and reports the
// throughput of each step (used bytes per second) and the restore's peak
// heap. The disks are files in the page cache: this measures the engines,
// not a disk. Run it alone:
//
//	go test -run '^$' -bench CaptureRestore -benchtime 1x ./pkg/restore
func BenchmarkCaptureRestore(b *testing.B) {
	dir := b.TempDir()
	tree := filepath.Join(dir, "tree")
	cc := rand.NewChaCha8([32]byte{1})
	r := rand.New(cc)
	var total int64
	var files []string
	var sizes []int
	for i := 0; total < 600<<20; i++ {
		sub := filepath.Join(tree, fmt.Sprintf("d%02d", i%20))
		os.MkdirAll(sub, 0o755)
		size := 64<<10 + r.IntN(4<<20)
		buf := make([]byte, size)
		if i%5 < 3 {
			cc.Read(buf)
		} else {
			line := fmt.Sprintf("file %d: lorem ipsum dolor sit amet %d\n", i, r.Uint32())
			copy(buf, strings.Repeat(line, size/len(line)+1))
		}
		name := fmt.Sprintf("d%02d/f%05d", i%20, i)
		if err := os.WriteFile(filepath.Join(tree, name), buf, 0o644); err != nil {
			b.Fatal(err)
		}
		files, sizes = append(files, name), append(sizes, size)
		total += int64(size)
	}
	d := buildDisk(b, dir, "gpt", 1<<30, []part{
		{start: 2048, size: 1<<21 - 4096, typ: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", fs: "ext4", name: "root"},
	}, false, 1)
	fsFile := filepath.Join(dir, "fs.img")
	testutil.SparseFile(b, fsFile, d.parts[0].len())
	run(b, "mkfs.ext4", "-q", "-F", "-d", tree, fsFile)
	copyInto(b, d.path, d.parts[0].off(), fsFile)
	os.Remove(fsFile)
	os.RemoveAll(tree)

	// Each step for both repository formats, one after the other on the
	// same data: format 1 (1 MiB chunk files) and format 2 (packs).
	for _, v := range []int{1, 2} {
		b.Run(fmt.Sprintf("local/format%d", v), func(b *testing.B) {
			for range b.N {
				rp, _ := newLocalRepoV(b, 0, v)
				benchRepo(b, rp, d)
			}
		})
	}
	for _, v := range []int{1, 2} {
		b.Run(fmt.Sprintf("smb/format%d", v), func(b *testing.B) {
			srv := sambatest.Start(b, sambatest.Options{})
			var retries atomic.Int64
			for i := range b.N {
				benchRepo(b, smbRepoV(b, srv, fmt.Sprintf("bench%d", i), &retries, v), d)
			}
		})
	}
	// Last: it changes the disk. Each format gets a copy of it as it was.
	for _, v := range []int{1, 2} {
		b.Run(fmt.Sprintf("changed10/format%d", v), func(b *testing.B) {
			for range b.N {
				c := *d
				c.path = filepath.Join(b.TempDir(), "disk.img")
				run(b, "cp", "--sparse=always", d.path, c.path)
				benchChanged(b, &c, files, sizes, v)
			}
		})
	}
}

// benchRepo captures d into rp, restores it onto a blank disk and over
// itself, and verifies it, reporting each step's throughput.
func benchRepo(b *testing.B, rp *repo.Repository, d *testDisk) {
	dir := b.TempDir()
	{
		start := time.Now()
		res := captureImage(b, rp, d.path, "bench")
		capDur := time.Since(start)
		used := float64(res.Snapshot.Image.UsedBytes())

		dst := filepath.Join(dir, "target.img")
		testutil.SparseFile(b, dst, d.size)
		// The capture's garbage goes first, or the first sample counts it.
		runtime.GC()
		var peak atomic.Uint64
		stop := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		runtime.GC()
		start = time.Now()
		tgt, err := disk.OpenWrite(dst)
		if err != nil {
			b.Fatal(err)
		}
		st := &syncTimer{Target: tgt}
		sum, err := Restore(context.Background(), rp, res.Snapshot, []Target{st}, Options{NoVerify: true})
		tgt.Close()
		blankDur := time.Since(start)
		close(stop)
		if err != nil {
			b.Fatalf("Restore = %+v, %v", sum, err)
		}
		start = time.Now()
		target, err := disk.Open(dst)
		if err != nil {
			b.Fatal(err)
		}
		_, err = Verify(context.Background(), res.Snapshot.Image, []Source{target}, VerifyOptions{})
		target.Close()
		verifyDur := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		same, err := restoreImage(b, rp, res.Snapshot, dst, Options{NoVerify: true})
		sameDur := time.Since(start)
		if err != nil || same.Fetches != 0 {
			b.Fatalf("Restore over itself = %+v, %v", same, err)
		}
		b.ReportMetric(used/1e6, "usedMB")
		b.ReportMetric(float64(res.Stats.StoredBytes)/1e6, "storedMB")
		b.ReportMetric(used/capDur.Seconds()/1e6, "captureMB/s")
		b.ReportMetric(used/blankDur.Seconds()/1e6, "restoreMB/s")
		b.ReportMetric(used/verifyDur.Seconds()/1e6, "verifyMB/s")
		b.ReportMetric(st.d.Seconds(), "restoreSyncSeconds")
		b.ReportMetric(used/sameDur.Seconds()/1e6, "restoreSameMB/s")
		b.ReportMetric(float64(peak.Load())/(1<<20), "restorePeakHeapMiB")
		os.Remove(dst)
	}
}

// syncTimer times a target's Sync: on a machine with a slow disk, the
// restore's final flush of the page cache is most of its time.
type syncTimer struct {
	Target
	d time.Duration
}

func (s *syncTimer) Sync() error {
	start := time.Now()
	err := s.Target.Sync()
	s.d += time.Since(start)
	return err
}

// benchChanged captures d, changes every tenth file of its ext4 partition
// (new random content, as a week of work would), captures it again and
// restores the second image over a copy of the first state. It reports the
// new bytes the second capture stored and the bytes the restore fetched,
// against a full image. d is left changed.
func benchChanged(b *testing.B, d *testDisk, files []string, sizes []int, version int) {
	dir := b.TempDir()
	rp, _ := newLocalRepoV(b, 0, version)
	first := captureImage(b, rp, d.path, "bench")
	old := filepath.Join(dir, "old.img")
	run(b, "cp", "--sparse=always", d.path, old)

	fsFile := filepath.Join(dir, "fs.img")
	run(b, "dd", "if="+d.path, "of="+fsFile, "bs=1M", fmt.Sprintf("skip=%d", d.parts[0].off()>>20),
		fmt.Sprintf("count=%d", d.parts[0].len()>>20), "conv=sparse", "status=none")
	cc := rand.NewChaCha8([32]byte{2})
	var script strings.Builder
	var changed int64
	for i := 0; i < len(files); i += 10 {
		buf := make([]byte, sizes[i])
		cc.Read(buf)
		src := filepath.Join(dir, fmt.Sprintf("new%05d", i))
		if err := os.WriteFile(src, buf, 0o644); err != nil {
			b.Fatal(err)
		}
		changed += int64(len(buf))
		fmt.Fprintf(&script, "cd /%s\nrm %s\nwrite %s %s\ncd /\n", filepath.Dir(files[i]), filepath.Base(files[i]), src, filepath.Base(files[i]))
	}
	cmds := filepath.Join(dir, "cmds")
	if err := os.WriteFile(cmds, []byte(script.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	run(b, "debugfs", "-w", "-f", cmds, fsFile)
	copyInto(b, d.path, d.parts[0].off(), fsFile)
	os.Remove(fsFile)

	second := captureImage(b, rp, d.path, "bench")
	start := time.Now()
	sum, err := restoreImage(b, rp, second.Snapshot, old, Options{})
	dur := time.Since(start)
	if err != nil || !sum.Verified {
		b.Fatalf("Restore over the older state = %+v, %v", sum, err)
	}
	st1, st2 := first.Stats, second.Stats
	used := float64(second.Snapshot.Image.UsedBytes())
	b.ReportMetric(float64(changed)/1e6, "changedFilesMB")
	b.ReportMetric(float64(st2.NewBytes)/1e6, "newStoredMB")
	b.ReportMetric(100*float64(st2.NewBytes)/float64(st1.StoredBytes), "newStored%")
	b.ReportMetric(float64(sum.Fetched)/1e6, "fetchedMB")
	b.ReportMetric(100*float64(sum.Fetched)/float64(st2.StoredBytes), "fetched%")
	b.ReportMetric(used/dur.Seconds()/1e6, "restoreOverOldMB/s")
}
