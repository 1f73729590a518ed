// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// ntfsinfoUsed returns the cluster size and clusters in use that ntfsinfo
// -m reads from the volume.
func ntfsinfoUsed(t testing.TB, img string) (cs, used int64) {
	t.Helper()
	out := run(t, "ntfsinfo", "-m", img)
	num := func(re string) int64 {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("ntfsinfo -m %s: no %q in\n%s", img, re, out)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	return num(`Cluster Size: (\d+)`), num(`Volume Size in Clusters: (\d+)`) - num(`Free Clusters: (\d+)`)
}

// makeNTFS makes an NTFS image of size bytes with mkntfs and copies the
// files of tree (all at its top level) into its root with ntfscp.
func makeNTFS(t testing.TB, img string, size int64, tree string, names []string, mkntfs ...string) {
	t.Helper()
	testutil.SparseFile(t, img, size)
	run(t, "mkntfs", append(append([]string{"-q", "-F", "-f", "-L", "NTLAB"}, mkntfs...), img)...)
	for _, n := range names {
		run(t, "ntfscp", "-f", img, filepath.Join(tree, n), "/"+n)
	}
}

// flatTree writes n random files at the top of dir.
func flatTree(t testing.TB, dir string, seed int64, n, max int) []string {
	t.Helper()
	names := makeTree(t, dir, seed, n, max)
	for i, name := range names {
		flat := filepath.Base(name)
		if flat != name {
			if err := os.Rename(filepath.Join(dir, name), filepath.Join(dir, flat)); err != nil {
				t.Fatal(err)
			}
		}
		names[i] = flat
	}
	return names
}

func TestNTFS(t *testing.T) {
	testutil.NeedTool(t, "mkntfs", "ntfscp", "ntfscat", "ntfsinfo", "ntfsfix")
	tests := []struct {
		name   string
		mkntfs []string
		size   int64
		files  int
	}{
		{"4k-clusters", nil, 96 << 20, 70},
		{"512-clusters", []string{"-c", "512"}, 64 << 20, 40},
		{"64k-clusters", []string{"-c", "65536"}, 128 << 20, 30},
		{"4k-sectors", []string{"-s", "4096", "-c", "8192"}, 96 << 20, 30},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tree := filepath.Join(dir, "tree")
			names := flatTree(t, tree, int64(200+i), tc.files, 1<<20)
			img := filepath.Join(dir, "fs.img")
			makeNTFS(t, img, tc.size, tree, names, tc.mkntfs...)
			// Holes: overwrite every fourth file with a short one.
			for j, n := range names {
				if j%4 == 1 {
					p := filepath.Join(tree, n)
					if err := os.WriteFile(p, []byte("short now"), 0o644); err != nil {
						t.Fatal(err)
					}
					run(t, "ntfscp", "-f", img, p, "/"+n)
				}
			}
			m := mustMap(t, img)
			cs, used := ntfsinfoUsed(t, img)
			if m.FS != "ntfs" || m.Mode != UsedBlocks || m.BlockSize != cs || m.Label != "NTLAB" || !m.Clean || len(m.UUID) != 16 {
				t.Errorf("Read(%s) summary = %+v, want ntfs, used-blocks, cluster size %d, label NTLAB, clean", tc.name, m.Summary, cs)
			}
			sector := int64(512)
			if tc.name == "4k-sectors" {
				sector = 4096
			}
			if want := used*cs + sector; m.Used != want {
				t.Errorf("Read(%s).Used = %d, want ntfsinfo's used clusters × cluster size + the backup boot sector = %d (diff %d)", tc.name, m.Used, want, m.Used-want)
			}
			t.Logf("%s: %d of %d bytes used, %d extents", tc.name, m.Used, m.Total, len(m.Extents))
			cp := copyUsed(t, img, m)
			if out, err := tryRun(t, "ntfsfix", "-n", cp); err != nil {
				t.Fatalf("ntfsfix -n on the copy of the used extents: %v\n%s", err, out)
			}
			for _, n := range names {
				want, err := os.ReadFile(filepath.Join(tree, n))
				if err != nil {
					t.Fatal(err)
				}
				got, err := tryRun(t, "ntfscat", cp, "/"+n)
				if err != nil || !bytes.Equal([]byte(got), want) {
					t.Errorf("ntfscat %s from the copy: %d bytes, err %v; want the %d bytes written", n, len(got), err, len(want))
				}
			}
		})
	}
}

// TestNTFSUnclean checks that a dirty and a hibernated volume are refused
// with ErrUnclean unless forced.
func TestNTFSUnclean(t *testing.T) {
	testutil.NeedTool(t, "mkntfs", "ntfscp")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	names := flatTree(t, tree, 7, 5, 100<<10)

	t.Run("hibernated", func(t *testing.T) {
		// Enough files that the root index is no longer resident, so
		// that hiberfil.sys is found in an INDX block.
		many := flatTree(t, filepath.Join(dir, "many"), 8, 40, 10<<10)
		for _, hdr := range []string{"HIBR", "hibr", "wake", "\x00\x00\x00\x00"} {
			img := filepath.Join(dir, "hib.img")
			hib := filepath.Join(dir, "many", "hiberfil.sys")
			b := make([]byte, 64<<10)
			copy(b, hdr)
			if err := os.WriteFile(hib, b, 0o644); err != nil {
				t.Fatal(err)
			}
			makeNTFS(t, img, 32<<20, filepath.Join(dir, "many"), append(many, "hiberfil.sys"))
			// ntfs-3g checks hiberfil.sys when it opens a volume for
			// writing, as ntfscp does.
			_, ntfs3gErr := tryRun(t, "ntfscp", "-f", img, filepath.Join(dir, "many", many[0]), "/probe")
			if hdr == "HIBR" || hdr == "hibr" {
				if ntfs3gErr == nil {
					t.Fatalf("ntfscp writes to a volume with a %q hiberfil.sys: the test's idea of hibernation is wrong", hdr)
				}
				checkRefused(t, img, "hibernated")
			} else {
				// A hiberfil.sys left by a full shutdown is fine.
				if ntfs3gErr != nil {
					t.Fatalf("ntfscp refuses a volume with a %q hiberfil.sys: %v", hdr, ntfs3gErr)
				}
				mustMap(t, img)
			}
			if err := os.Remove(img); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("dirty", func(t *testing.T) {
		img := filepath.Join(dir, "dirty.img")
		makeNTFS(t, img, 32<<20, tree, names)
		setNTFSDirty(t, img)
		checkRefused(t, img, "dirty")
	})
}

func checkRefused(t *testing.T, img, what string) {
	t.Helper()
	_, err := readMap(t, img, Options{})
	if !errors.Is(err, ErrUnclean) || !regexp.MustCompile(what).MatchString(err.Error()) {
		t.Fatalf("Read(%s NTFS) = %v, want an error wrapping ErrUnclean that says %q", what, err, what)
	}
	var fe *FSError
	if !errors.As(err, &fe) || fe.Summary.FS != "ntfs" || fe.Summary.Label != "NTLAB" || len(fe.Summary.UUID) != 16 {
		t.Fatalf("Read(%s NTFS) = %#v; want an FSError that names the NTFS volume, its label and serial", what, err)
	}
	t.Logf("%s: %v", what, err)
	m, err := readMap(t, img, Options{Force: true})
	if err != nil || m.Clean || m.Mode != UsedBlocks || m.Reason == "" {
		t.Fatalf("Read(%s NTFS, Force) = %+v, %v; want an unclean used-blocks map with a reason", what, m, err)
	}
}

// openNTFSImage opens an NTFS image read-write, with its MFT loaded, for
// tests that patch records in place. The file closes when the test ends.
func openNTFSImage(t *testing.T, img string) (*os.File, *ntfsVol) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	head := make([]byte, 512)
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	v, _, err := parseNTFSBoot(head, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	v.r = f
	if err := v.loadMFT(int64(binary.LittleEndian.Uint64(head[0x30:]))); err != nil {
		t.Fatal(err)
	}
	return f, v
}

// setNTFSDirty sets VOLUME_IS_DIRTY in $Volume, as Windows does when it
// finds an error, by patching the record in place.
func setNTFSDirty(t *testing.T, img string) {
	t.Helper()
	f, v := openNTFSImage(t, img)
	rec, err := v.record(ntfsRecVolume)
	if err != nil {
		t.Fatal(err)
	}
	// Find the $VOLUME_INFORMATION value in the fixed-up record; the
	// flags sit at the same offset in the raw one.
	off := int(binary.LittleEndian.Uint16(rec[0x14:]))
	for binary.LittleEndian.Uint32(rec[off:]) != ntfsAttrVolInfo {
		off += int(binary.LittleEndian.Uint32(rec[off+4:]))
	}
	flags := off + int(binary.LittleEndian.Uint16(rec[off+0x14:])) + 0x0a
	if flags%512 >= 510 {
		t.Fatal("volume flags under a fixup")
	}
	pos := v.mft[0].lcn*v.cs + ntfsRecVolume*v.recSize + int64(flags)
	if _, err := f.WriteAt([]byte{rec[flags] | ntfsVolumeDirty}, pos); err != nil {
		t.Fatal(err)
	}
}

// TestNTFSLogFile writes a $LogFile restart page saying the volume is in use
// (what Windows fast startup leaves on a data volume) and checks that Read
// refuses it as ntfs-3g does, and accepts the same page marked clean.
func TestNTFSLogFile(t *testing.T) {
	testutil.NeedTool(t, "mkntfs", "ntfscp")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	names := flatTree(t, tree, 9, 3, 10<<10)
	for _, clean := range []bool{false, true} {
		img := filepath.Join(dir, "log.img")
		makeNTFS(t, img, 32<<20, tree, names)
		writeRestartPage(t, img, clean)
		// Without -f, which would reset the $LogFile.
		out, ntfs3gErr := tryRun(t, "ntfscp", img, filepath.Join(tree, names[0]), "/probe")
		t.Logf("ntfscp (clean %v): %v %s", clean, ntfs3gErr, out)
		if clean {
			if ntfs3gErr != nil {
				t.Fatalf("ntfscp refuses the volume with a clean restart page: %v", ntfs3gErr)
			}
			if m := mustMap(t, img); !m.Clean {
				t.Errorf("Read(clean $LogFile) = %+v, want clean", m.Summary)
			}
			continue
		}
		if ntfs3gErr == nil {
			t.Fatal("ntfscp writes to a volume whose $LogFile is in use: the test's restart page is wrong")
		}
		checkRefused(t, img, "LogFile")
	}
}

// writeRestartPage overwrites the first page of $LogFile with a restart page
// whose one client is in use, flagged clean or not.
func writeRestartPage(t *testing.T, img string, clean bool) {
	t.Helper()
	f, v := openNTFSImage(t, img)
	as, err := v.recordAttrs(ntfsRecLogFile)
	if err != nil {
		t.Fatal(err)
	}
	data := findAttr(as, ntfsAttrData, "")
	le := binary.LittleEndian
	p := make([]byte, 4096)
	copy(p, "RSTR")
	le.PutUint16(p[0x04:], 0x1e) // update sequence array
	le.PutUint16(p[0x06:], 9)
	le.PutUint32(p[0x10:], 4096) // system page size
	le.PutUint32(p[0x14:], 4096) // log page size
	le.PutUint16(p[0x18:], 0x30) // restart area offset
	le.PutUint16(p[0x1a:], 1)    // version 1.1
	le.PutUint16(p[0x1c:], 1)
	ra := p[0x30:]
	le.PutUint64(ra[0x00:], 0x100000) // current LSN
	le.PutUint16(ra[0x08:], 1)        // one client
	le.PutUint16(ra[0x0a:], 0xffff)   // no free client
	le.PutUint16(ra[0x0c:], 0)        // client 0 in use
	if clean {
		le.PutUint16(ra[0x0e:], 0x0002)
	}
	size := data.dataSize
	bits := uint32(67)
	for s := size; s > 0; s >>= 1 { // 67 minus the bits in the file size, as ntfs-3g checks
		bits--
	}
	le.PutUint32(ra[0x10:], bits)         // sequence number bits
	le.PutUint16(ra[0x14:], 0x30+0xa0)    // restart area length
	le.PutUint16(ra[0x16:], 0x30)         // client array offset
	le.PutUint64(ra[0x18:], uint64(size)) // file size
	le.PutUint16(ra[0x24:], 0x30)         // log record header length
	le.PutUint16(ra[0x26:], 0x40)         // log page data offset
	cl := ra[0x30:]
	le.PutUint16(cl[0x10:], 0xffff) // previous and next client
	le.PutUint16(cl[0x12:], 0xffff)
	le.PutUint32(cl[0x1c:], 8) // name length in bytes: "NTFS"
	copy(cl[0x20:], []byte{'N', 0, 'T', 0, 'F', 0, 'S', 0})
	// Update sequence: sequence number 1 at the end of every sector.
	le.PutUint16(p[0x1e:], 1)
	for i := 1; i <= 8; i++ {
		copy(p[0x1e+2*i:], p[i*512-2:i*512])
		le.PutUint16(p[i*512-2:], 1)
	}
	if _, err := f.WriteAt(p, data.runs[0].lcn*v.cs); err != nil {
		t.Fatal(err)
	}
}

// TestCheckNTFS: CheckNTFS finds names in the root folder whatever their
// case, says why a dirty or hibernated volume is unclean as Read does, and
// returns nil for a partition that holds no NTFS.
func TestCheckNTFS(t *testing.T) {
	testutil.NeedTool(t, "mkntfs", "ntfscp")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Windows", "users", "hiberfil.sys"} {
		b := make([]byte, 8192)
		if n == "hiberfil.sys" {
			copy(b, "HIBR")
		}
		if err := os.WriteFile(filepath.Join(tree, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zeros := filepath.Join(dir, "zeros.img")
	testutil.SparseFile(t, zeros, 8<<20)
	for _, tc := range []struct {
		name    string
		files   []string
		dirty   bool
		inRoot  []string
		unclean string // regexp of the reason, "" for a clean volume
	}{
		{"clean", []string{"Windows", "users"}, false, []string{"Windows", "Users"}, ""},
		{"no Users", []string{"Windows"}, false, []string{"Windows"}, ""},
		{"dirty", []string{"Windows", "users"}, true, []string{"Windows", "Users"}, "marked dirty.*chkdsk /f"},
		{"hibernated", []string{"Windows", "users", "hiberfil.sys"}, false, []string{"Windows", "Users"}, "hibernated.*shut it down fully"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			makeNTFS(t, img, 16<<20, tree, tc.files)
			if tc.dirty {
				setNTFSDirty(t, img)
			}
			st := checkNTFS(t, img, "Windows", "Users")
			if st == nil || st.Label != "NTLAB" || !slices.Equal(st.InRoot, tc.inRoot) {
				t.Fatalf("CheckNTFS(%s) = %+v, want label NTLAB and %q in the root", tc.name, st, tc.inRoot)
			}
			reason := strings.Join(st.Unclean, "; ")
			if tc.unclean == "" && reason != "" || tc.unclean != "" && !regexp.MustCompile(tc.unclean).MatchString(reason) {
				t.Errorf("CheckNTFS(%s).Unclean = %q, want %q", tc.name, reason, tc.unclean)
			}
		})
	}
	if st := checkNTFS(t, zeros); st != nil {
		t.Errorf("CheckNTFS(zeros) = %+v, want nil", st)
	}
}

func checkNTFS(t *testing.T, img string, names ...string) *NTFSState {
	t.Helper()
	f, size := openImage(t, img)
	st, err := CheckNTFS(context.Background(), f, size, names...)
	if err != nil {
		t.Fatalf("CheckNTFS(%s): %v", img, err)
	}
	return st
}
