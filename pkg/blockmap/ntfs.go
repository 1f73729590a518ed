// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package blockmap

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// NTFS on-disk constants (ntfs-3g include/ntfs-3g/layout.h).
const (
	ntfsAttrList       = 0x20
	ntfsAttrFileName   = 0x30
	ntfsAttrVolName    = 0x60
	ntfsAttrVolInfo    = 0x70
	ntfsAttrData       = 0x80
	ntfsAttrIndexRoot  = 0x90
	ntfsAttrIndexAlloc = 0xa0
	ntfsAttrBitmap     = 0xb0
	ntfsAttrEnd        = 0xffffffff

	ntfsRecLogFile = 2
	ntfsRecVolume  = 3
	ntfsRecRoot    = 5
	ntfsRecBitmap  = 6

	ntfsVolumeDirty = 0x0001

	// ntfsMaxAttrList bounds the $ATTRIBUTE_LIST of $MFT that is read.
	ntfsMaxAttrList = 1 << 20
	// ntfsMaxIndex bounds the root directory index that is searched for
	// hiberfil.sys.
	ntfsMaxIndex = 16 << 20
)

func isNTFS(h []byte) bool {
	return bytes.Equal(h[3:11], []byte("NTFS    "))
}

// ntfsRun is one extent of a non-resident attribute: n clusters from
// virtual cluster vcn stored at logical cluster lcn (-1: sparse).
type ntfsRun struct{ vcn, lcn, n int64 }

// ntfsVol is an NTFS volume being read.
type ntfsVol struct {
	r                io.ReaderAt
	bps, cs, recSize int64
	clusters         int64
	mft              []ntfsRun
}

// ntfsAttr is one attribute of an MFT record.
type ntfsAttr struct {
	typ      uint32
	name     string
	resident bool
	value    []byte    // resident
	runs     []ntfsRun // non-resident
	dataSize int64     // non-resident: bytes of data
	initSize int64     // non-resident: bytes initialised
}

// parseNTFSBoot reads the geometry of an NTFS boot sector.
func parseNTFSBoot(h []byte, size int64) (*ntfsVol, int64, error) {
	le := binary.LittleEndian
	v := &ntfsVol{bps: int64(le.Uint16(h[0x0b:]))}
	if v.bps < 256 || v.bps > 4096 || v.bps&(v.bps-1) != 0 {
		return nil, 0, fmt.Errorf("%d bytes per sector is out of range: %w", v.bps, ErrCorrupt)
	}
	spc := int64(h[0x0d])
	if spc > 0x80 {
		if spc < 0xf4 { // more than 2 MiB clusters
			return nil, 0, fmt.Errorf("sectors per cluster code %#x is out of range: %w", spc, ErrCorrupt)
		}
		spc = 1 << (256 - spc)
	}
	if spc == 0 || spc&(spc-1) != 0 {
		return nil, 0, fmt.Errorf("%d sectors per cluster is out of range: %w", spc, ErrCorrupt)
	}
	v.cs = spc * v.bps
	sectors := le.Uint64(h[0x28:])
	if sectors == 0 || sectors > uint64(size/v.bps) {
		return nil, 0, fmt.Errorf("NTFS volume of %d sectors of %d bytes does not fit its partition of %d bytes: the partition was shrunk or the boot sector is damaged; image it raw: %w",
			sectors, v.bps, size, ErrCorrupt)
	}
	v.clusters = int64(sectors) / spc
	switch c := int8(h[0x40]); {
	case c > 0:
		v.recSize = int64(c) * v.cs
	case c >= -16 && c <= -9:
		v.recSize = 1 << -c
	default:
		return nil, 0, fmt.Errorf("MFT record size code %d is out of range: %w", c, ErrCorrupt)
	}
	if v.recSize < 512 || v.recSize > 64<<10 {
		return nil, 0, fmt.Errorf("MFT record size %d is out of range: %w", v.recSize, ErrCorrupt)
	}
	mftLCN := int64(le.Uint64(h[0x30:]))
	if mftLCN <= 0 || mftLCN >= v.clusters || (mftLCN*v.cs+v.recSize) > int64(sectors)*v.bps {
		return nil, 0, fmt.Errorf("MFT at cluster %d is outside the volume: %w", mftLCN, ErrCorrupt)
	}
	return v, int64(sectors), nil
}

// fixup applies the update sequence array of a multi-sector record (FILE,
// INDX, RSTR) in place, checking that every sector ends with the sequence
// number.
func fixup(b []byte) error {
	le := binary.LittleEndian
	usaOff := int(le.Uint16(b[4:]))
	usaCount := int(le.Uint16(b[6:]))
	if usaCount < 2 || (usaCount-1)*512 > len(b) || usaOff+2*usaCount > len(b) || usaOff < 8 {
		return fmt.Errorf("update sequence array at %d with %d entries does not fit a %d-byte record: %w", usaOff, usaCount, len(b), ErrCorrupt)
	}
	usn := b[usaOff : usaOff+2]
	for i := 1; i < usaCount; i++ {
		p := i*512 - 2
		if b[p] != usn[0] || b[p+1] != usn[1] {
			return fmt.Errorf("torn write: sector %d of a record does not end with its update sequence number: %w", i-1, ErrCorrupt)
		}
		copy(b[p:p+2], b[usaOff+2*i:])
	}
	return nil
}

// decodeRuns decodes a mapping-pairs array starting at virtual cluster
// vcn. Runs must lie within the volume.
func (v *ntfsVol) decodeRuns(b []byte, vcn int64) ([]ntfsRun, error) {
	var runs []ntfsRun
	lcn := int64(0)
	for len(b) > 0 && b[0] != 0 {
		ls, os := int(b[0]&0x0f), int(b[0]>>4)
		if ls == 0 || ls > 8 || os > 8 || 1+ls+os > len(b) {
			return nil, fmt.Errorf("malformed run list: %w", ErrCorrupt)
		}
		n := leInt(b[1 : 1+ls])
		if n <= 0 || n > v.clusters {
			return nil, fmt.Errorf("run of %d clusters: %w", n, ErrCorrupt)
		}
		r := ntfsRun{vcn: vcn, lcn: -1, n: n}
		if os > 0 {
			lcn += leInt(b[1+ls : 1+ls+os])
			if lcn < 0 || lcn > v.clusters-n {
				return nil, fmt.Errorf("run of %d clusters at cluster %d is outside the volume: %w", n, lcn, ErrCorrupt)
			}
			r.lcn = lcn
		}
		runs = append(runs, r)
		vcn += n
		b = b[1+ls+os:]
	}
	return runs, nil
}

// leInt reads a little-endian signed integer of 1 to 8 bytes.
func leInt(b []byte) int64 {
	var u uint64
	for i := len(b) - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	shift := 64 - 8*uint(len(b))
	return int64(u<<shift) >> shift
}

// readRuns reads len(b) bytes at byte offset off of the data that runs
// describe; sparse runs read as zeros.
func (v *ntfsVol) readRuns(runs []ntfsRun, b []byte, off int64) error {
	for len(b) > 0 {
		vcn := off / v.cs
		var run *ntfsRun
		for i := range runs {
			if vcn >= runs[i].vcn && vcn < runs[i].vcn+runs[i].n {
				run = &runs[i]
				break
			}
		}
		if run == nil {
			return fmt.Errorf("byte %d is not mapped by the run list: %w", off, ErrCorrupt)
		}
		n := int64(len(b))
		if end := (run.vcn + run.n) * v.cs; off+n > end {
			n = end - off
		}
		if run.lcn < 0 {
			clear(b[:n])
		} else if _, err := readFull(v.r, b[:n], (run.lcn-run.vcn)*v.cs+off); err != nil {
			return err
		}
		b, off = b[n:], off+n
	}
	return nil
}

// record reads and fixes up MFT record n.
func (v *ntfsVol) record(n int64) ([]byte, error) {
	var mftBytes int64
	for _, r := range v.mft {
		mftBytes += min(r.n*v.cs, 1<<50) // runs lie in the volume; this only stops overflow
	}
	if n < 0 || n >= mftBytes/v.recSize {
		return nil, fmt.Errorf("MFT record %d is past the end of the MFT: %w", n, ErrCorrupt)
	}
	b := make([]byte, v.recSize)
	if err := v.readRuns(v.mft, b, n*v.recSize); err != nil {
		return nil, fmt.Errorf("MFT record %d: %w", n, err)
	}
	if !bytes.HasPrefix(b, []byte("FILE")) {
		return nil, fmt.Errorf("MFT record %d has no FILE signature: %w", n, ErrCorrupt)
	}
	if err := fixup(b); err != nil {
		return nil, fmt.Errorf("MFT record %d: %w", n, err)
	}
	return b, nil
}

// attrs parses the attributes of a fixed-up MFT record.
func (v *ntfsVol) attrs(rec []byte) ([]ntfsAttr, error) {
	le := binary.LittleEndian
	off := int(le.Uint16(rec[0x14:]))
	var out []ntfsAttr
	for {
		if off < 0x18 || off+8 > len(rec) {
			return nil, fmt.Errorf("attribute at %d runs past the record: %w", off, ErrCorrupt)
		}
		typ := le.Uint32(rec[off:])
		if typ == ntfsAttrEnd {
			return out, nil
		}
		n := int(le.Uint32(rec[off+4:]))
		if n < 0x18 || n > len(rec)-off || n%8 != 0 {
			return nil, fmt.Errorf("attribute %#x of %d bytes at %d does not fit the record: %w", typ, n, off, ErrCorrupt)
		}
		a := rec[off : off+n]
		at := ntfsAttr{typ: typ, resident: a[8] == 0}
		if nl, no := int(a[9]), int(le.Uint16(a[0x0a:])); nl > 0 {
			if no+2*nl > n {
				return nil, fmt.Errorf("attribute %#x name does not fit: %w", typ, ErrCorrupt)
			}
			at.name = utf16String(a[no : no+2*nl])
		}
		if at.resident {
			vl, vo := int(le.Uint32(a[0x10:])), int(le.Uint16(a[0x14:]))
			if vo > n || vl > n-vo {
				return nil, fmt.Errorf("resident attribute %#x value does not fit: %w", typ, ErrCorrupt)
			}
			at.value = a[vo : vo+vl]
		} else {
			if n < 0x40 {
				return nil, fmt.Errorf("non-resident attribute %#x too short: %w", typ, ErrCorrupt)
			}
			ro := int(le.Uint16(a[0x20:]))
			if ro < 0x40 || ro > n {
				return nil, fmt.Errorf("attribute %#x run list at %d does not fit: %w", typ, ro, ErrCorrupt)
			}
			start := int64(le.Uint64(a[0x10:]))
			if start < 0 || start > v.clusters {
				return nil, fmt.Errorf("attribute %#x starts at virtual cluster %d: %w", typ, start, ErrCorrupt)
			}
			runs, err := v.decodeRuns(a[ro:], start)
			if err != nil {
				return nil, fmt.Errorf("attribute %#x: %w", typ, err)
			}
			at.runs = runs
			at.dataSize = int64(le.Uint64(a[0x30:]))
			at.initSize = int64(le.Uint64(a[0x38:]))
			if at.dataSize < 0 || at.initSize < 0 || at.initSize > at.dataSize {
				return nil, fmt.Errorf("attribute %#x sizes %d/%d: %w", typ, at.initSize, at.dataSize, ErrCorrupt)
			}
		}
		out = append(out, at)
		off += n
	}
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func findAttr(as []ntfsAttr, typ uint32, name string) *ntfsAttr {
	for i := range as {
		if as[i].typ == typ && as[i].name == name {
			return &as[i]
		}
	}
	return nil
}

// attrData reads up to max bytes of an attribute's value; more is an error.
func (v *ntfsVol) attrData(a *ntfsAttr, max int64) ([]byte, error) {
	if a.resident {
		if int64(len(a.value)) > max {
			return nil, fmt.Errorf("attribute %#x is %d bytes: %w", a.typ, len(a.value), ErrCorrupt)
		}
		return a.value, nil
	}
	if a.dataSize > max {
		return nil, fmt.Errorf("attribute %#x is %d bytes: %w", a.typ, a.dataSize, ErrCorrupt)
	}
	b := make([]byte, a.dataSize)
	if err := v.readRuns(a.runs, b[:a.initSize], 0); err != nil {
		return nil, err
	}
	return b, nil
}

// loadMFT finds the run list of $MFT itself, from record 0 and, for a
// fragmented MFT, the extension records its $ATTRIBUTE_LIST names.
func (v *ntfsVol) loadMFT(mftLCN int64) error {
	v.mft = []ntfsRun{{vcn: 0, lcn: mftLCN, n: (v.recSize + v.cs - 1) / v.cs}}
	rec, err := v.record(0)
	if err != nil {
		return err
	}
	as, err := v.attrs(rec)
	if err != nil {
		return fmt.Errorf("MFT record 0: %w", err)
	}
	data := findAttr(as, ntfsAttrData, "")
	if data == nil || data.resident {
		return fmt.Errorf("$MFT has no non-resident $DATA: %w", ErrCorrupt)
	}
	v.mft = data.runs
	list := findAttr(as, ntfsAttrList, "")
	if list == nil {
		return nil
	}
	lb, err := v.attrData(list, ntfsMaxAttrList)
	if err != nil {
		return fmt.Errorf("$MFT attribute list: %w", err)
	}
	le := binary.LittleEndian
	for len(lb) >= 0x1a {
		n := int(le.Uint16(lb[4:]))
		if n < 0x1a || n > len(lb) {
			return fmt.Errorf("$MFT attribute list entry of %d bytes: %w", n, ErrCorrupt)
		}
		ref := int64(le.Uint64(lb[0x10:]) & (1<<48 - 1))
		if le.Uint32(lb) == ntfsAttrData && lb[6] == 0 && ref != 0 {
			ext, err := v.record(ref)
			if err != nil {
				return fmt.Errorf("$MFT extension: %w", err)
			}
			eas, err := v.attrs(ext)
			if err != nil {
				return fmt.Errorf("$MFT extension record %d: %w", ref, err)
			}
			if d := findAttr(eas, ntfsAttrData, ""); d != nil && !d.resident {
				v.mft = append(v.mft, d.runs...)
			}
		}
		lb = lb[n:]
	}
	return nil
}

// recordAttrs reads MFT record n and its attributes.
func (v *ntfsVol) recordAttrs(n int64) ([]ntfsAttr, error) {
	rec, err := v.record(n)
	if err != nil {
		return nil, err
	}
	as, err := v.attrs(rec)
	if err != nil {
		return nil, fmt.Errorf("MFT record %d: %w", n, err)
	}
	return as, nil
}

// openNTFS reads an NTFS volume's boot sector h and loads its MFT's run
// list; it returns the volume and its size in sectors.
func openNTFS(ctx context.Context, r io.ReaderAt, size int64, h []byte) (*ntfsVol, int64, error) {
	v, sectors, err := parseNTFSBoot(h, size)
	if err != nil {
		return nil, 0, fmt.Errorf("NTFS boot sector: %w", err)
	}
	v.r = r
	if err := v.loadMFT(int64(binary.LittleEndian.Uint64(h[0x30:]))); err != nil {
		return nil, 0, fmt.Errorf("NTFS: %w", err)
	}
	return v, sectors, ctx.Err()
}

// state reads the volume's label and what says Windows did not leave it
// clean: each problem as a person reads it, with what to do.
func (v *ntfsVol) state(ctx context.Context) (label string, problems []string, err error) {
	vol, err := v.recordAttrs(ntfsRecVolume)
	if err != nil {
		return "", nil, fmt.Errorf("NTFS $Volume: %w", err)
	}
	if a := findAttr(vol, ntfsAttrVolName, ""); a != nil && a.resident {
		label = utf16String(a.value)
	}
	if a := findAttr(vol, ntfsAttrVolInfo, ""); a != nil && a.resident && len(a.value) >= 12 {
		if binary.LittleEndian.Uint16(a.value[0x0a:])&ntfsVolumeDirty != 0 {
			problems = append(problems, "is marked dirty (Windows found an error, or was not shut down): boot Windows and run chkdsk /f on it")
		}
	}
	if unclean, err := v.logFileUnclean(); err != nil {
		return "", nil, fmt.Errorf("NTFS $LogFile: %w", err)
	} else if unclean {
		problems = append(problems, "has changes not yet written from its $LogFile (Windows fast startup or a crash left it in use): boot Windows and shut it down fully (Shift + Shut down, or shutdown /s /t 0)")
	}
	if hib, err := v.hibernated(ctx); err != nil {
		return "", nil, fmt.Errorf("NTFS hiberfil.sys: %w", err)
	} else if hib {
		problems = append(problems, "belongs to a hibernated Windows (hibernation or fast startup): boot Windows and shut it down fully (Shift + Shut down, or shutdown /s /t 0), or turn Fast Startup off")
	}
	return label, problems, nil
}

// NTFSState is what CheckNTFS reads of an NTFS volume.
type NTFSState struct {
	Label string
	// Unclean says why only Windows may write to the volume now (marked
	// dirty, changes left in its $LogFile, hibernated), each reason with
	// what to do; empty when Windows left it clean.
	Unclean []string
	// InRoot are those of the names asked for that the root folder
	// holds, as asked (NTFS compares them ignoring case).
	InRoot []string
}

// CheckNTFS reads the NTFS volume on a partition of size bytes through r
// as Read does before it maps one (the same checks of $Volume, $LogFile
// and hiberfil.sys), and looks up names in its root folder; it does not
// read $Bitmap. It returns nil and no error when the partition holds no
// NTFS volume. Errors wrap ErrCorrupt, an I/O error from r, or ctx.Err().
func CheckNTFS(ctx context.Context, r io.ReaderAt, size int64, names ...string) (*NTFSState, error) {
	head, err := readHead(r, size)
	if err != nil {
		return nil, fmt.Errorf("reading the start of the partition: %w", err)
	}
	if !isNTFS(head) {
		return nil, nil
	}
	v, _, err := openNTFS(ctx, r, size, head)
	if err != nil {
		return nil, err
	}
	st := &NTFSState{}
	if st.Label, st.Unclean, err = v.state(ctx); err != nil {
		return nil, err
	}
	for _, n := range names {
		ref, err := v.lookupRoot(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("NTFS root folder: %w", err)
		}
		if ref >= 0 {
			st.InRoot = append(st.InRoot, n)
		}
	}
	return st, nil
}

// ntfsSerial is the volume serial number in NTFS boot sector h, as the
// UUID Windows and blkid show.
func ntfsSerial(h []byte) string { return fmt.Sprintf("%016X", binary.LittleEndian.Uint64(h[0x48:])) }

// readNTFS maps an NTFS volume from its $Bitmap, after checking that
// Windows left it clean.
func readNTFS(ctx context.Context, r io.ReaderAt, size int64, h []byte, opt Options) (*Map, error) {
	v, sectors, err := openNTFS(ctx, r, size, h)
	if err != nil {
		return nil, err
	}
	s := Summary{
		FS:        "ntfs",
		UUID:      ntfsSerial(h),
		BlockSize: v.cs,
		Total:     sectors * v.bps,
		Clean:     true,
		Mode:      UsedBlocks,
	}
	label, problems, err := v.state(ctx)
	if err != nil {
		return nil, err
	}
	s.Label = label
	if len(problems) > 0 {
		s.Clean = false
		if !opt.Force {
			return nil, &FSError{Summary: s, Err: fmt.Errorf("NTFS volume %q %s; then try again, or force imaging it as it is: %w", s.Label, strings.Join(problems, "; and "), ErrUnclean)}
		}
		s.Reason = "mapped although it " + strings.Join(problems, "; and ")
	}

	// $Bitmap: one bit per cluster, read a megabyte at a time.
	bm, err := v.recordAttrs(ntfsRecBitmap)
	if err != nil {
		return nil, fmt.Errorf("NTFS $Bitmap: %w", err)
	}
	data := findAttr(bm, ntfsAttrData, "")
	if data == nil {
		return nil, fmt.Errorf("NTFS $Bitmap has no $DATA: %w", ErrCorrupt)
	}
	need := (v.clusters + 7) / 8
	x := newExtents(size)
	if data.resident {
		if int64(len(data.value)) < need {
			return nil, fmt.Errorf("NTFS $Bitmap of %d bytes is too small for %d clusters: %w", len(data.value), v.clusters, ErrCorrupt)
		}
		addBitmapRuns(x, data.value, v.clusters, 0, v.cs, 0)
	} else {
		if data.initSize < need {
			return nil, fmt.Errorf("NTFS $Bitmap of %d bytes is too small for %d clusters: %w", data.initSize, v.clusters, ErrCorrupt)
		}
		buf := make([]byte, min(need, 1<<20))
		for off := int64(0); off < need; off += int64(len(buf)) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			b := buf[:min(int64(len(buf)), need-off)]
			if err := v.readRuns(data.runs, b, off); err != nil {
				return nil, fmt.Errorf("NTFS $Bitmap: %w", err)
			}
			addBitmapRuns(x, b, v.clusters-off*8, off*8, v.cs, 0)
		}
	}
	// The boot sector and its backup after the last cluster.
	x.add(0, v.bps)
	x.add(sectors*v.bps, v.bps)
	m := &Map{Summary: s}
	m.Extents, m.Used = x.result()
	return m, nil
}

// logFileUnclean reports whether $LogFile's restart area says the volume
// is still in use (ntfs-3g ntfs_check_logfile): what Windows fast startup
// leaves on volumes other than the system one.
func (v *ntfsVol) logFileUnclean() (bool, error) {
	as, err := v.recordAttrs(ntfsRecLogFile)
	if err != nil {
		return false, err
	}
	data := findAttr(as, ntfsAttrData, "")
	if data == nil || data.resident || data.initSize < 4096 {
		return false, nil
	}
	b := make([]byte, 4096)
	if err := v.readRuns(data.runs, b, 0); err != nil {
		return false, err
	}
	if !bytes.HasPrefix(b, []byte("RSTR")) {
		return false, nil // empty (mkntfs, ntfsfix) or "CHKD"
	}
	le := binary.LittleEndian
	page := int64(le.Uint32(b[0x10:]))
	if page >= 512 && page <= 4096 && page&(page-1) == 0 {
		if err := fixup(b[:page]); err != nil {
			return false, err
		}
	}
	ra := int(le.Uint16(b[0x18:]))
	if ra < 0x1e || ra+0x10 > len(b) {
		return false, fmt.Errorf("restart area at %d: %w", ra, ErrCorrupt)
	}
	inUse := le.Uint16(b[ra+0x0c:])
	flags := le.Uint16(b[ra+0x0e:])
	const noClient, volumeIsClean = 0xffff, 0x0002
	return inUse != noClient && flags&volumeIsClean == 0, nil
}

// hibernated reports whether the root directory holds a hiberfil.sys whose
// header says Windows is hibernated ("hibr", "HIBR"; ntfs-3g
// ntfs_volume_check_hiberfile).
func (v *ntfsVol) hibernated(ctx context.Context) (bool, error) {
	ref, err := v.lookupRoot(ctx, "hiberfil.sys")
	if err != nil || ref < 0 {
		return false, err
	}
	rec, err := v.record(ref)
	if err != nil {
		return false, err
	}
	if binary.LittleEndian.Uint16(rec[0x16:])&1 == 0 {
		return false, nil // a stale index entry: the record is free
	}
	as, err := v.attrs(rec)
	if err != nil {
		return false, err
	}
	data := findAttr(as, ntfsAttrData, "")
	if data == nil {
		return false, nil
	}
	head := make([]byte, 4)
	switch {
	case data.resident:
		copy(head, data.value)
	case data.initSize >= 4:
		if err := v.readRuns(data.runs, head, 0); err != nil {
			return false, err
		}
	}
	return bytes.Equal(head, []byte("hibr")) || bytes.Equal(head, []byte("HIBR")), nil
}

// lookupRoot returns the MFT record number of name in the root directory,
// or -1. It scans every in-use block of the $I30 index rather than walking
// the B-tree, which needs no collation rules.
func (v *ntfsVol) lookupRoot(ctx context.Context, name string) (int64, error) {
	as, err := v.recordAttrs(ntfsRecRoot)
	if err != nil {
		return -1, err
	}
	if root := findAttr(as, ntfsAttrIndexRoot, "$I30"); root != nil && root.resident && len(root.value) >= 0x20 {
		if ref, err := scanIndexEntries(root.value[0x10:], name); ref >= 0 || err != nil {
			return ref, err
		}
	}
	alloc := findAttr(as, ntfsAttrIndexAlloc, "$I30")
	if alloc == nil || alloc.resident {
		return -1, nil
	}
	var inUse []byte
	if bm := findAttr(as, ntfsAttrBitmap, "$I30"); bm != nil {
		if inUse, err = v.attrData(bm, ntfsMaxIndex/512/8); err != nil {
			return -1, err
		}
	}
	root := findAttr(as, ntfsAttrIndexRoot, "$I30")
	if root == nil || !root.resident || len(root.value) < 0x10 {
		return -1, fmt.Errorf("root directory has no index root: %w", ErrCorrupt)
	}
	bsz := int64(binary.LittleEndian.Uint32(root.value[8:]))
	if bsz < 512 || bsz > 64<<10 || bsz&(bsz-1) != 0 {
		return -1, fmt.Errorf("index block size %d: %w", bsz, ErrCorrupt)
	}
	total := min(alloc.initSize, ntfsMaxIndex)
	buf := make([]byte, bsz)
	for i := int64(0); (i+1)*bsz <= total; i++ {
		if err := ctx.Err(); err != nil {
			return -1, err
		}
		if inUse != nil && (i/8 >= int64(len(inUse)) || inUse[i/8]&(1<<(i%8)) == 0) {
			continue
		}
		if err := v.readRuns(alloc.runs, buf, i*bsz); err != nil {
			return -1, err
		}
		if !bytes.HasPrefix(buf, []byte("INDX")) || fixup(buf) != nil {
			continue
		}
		if ref, err := scanIndexEntries(buf[0x18:], name); ref >= 0 || err != nil {
			return ref, err
		}
	}
	return -1, nil
}

// scanIndexEntries looks for a $FILE_NAME key equal to name (ignoring ASCII
// case) in the entries that follow an index header.
func scanIndexEntries(hdr []byte, name string) (int64, error) {
	le := binary.LittleEndian
	if len(hdr) < 16 {
		return -1, nil
	}
	off, end := int(le.Uint32(hdr[0:])), int(le.Uint32(hdr[4:]))
	if end > len(hdr) {
		end = len(hdr)
	}
	for off >= 16 && off+16 <= end {
		e := hdr[off:end]
		n := int(le.Uint16(e[8:]))
		keyLen := int(le.Uint16(e[10:]))
		flags := le.Uint32(e[12:])
		if n < 16 || n > len(e) {
			return -1, nil // damaged entries: stop looking, do not fail
		}
		if flags&2 != 0 { // last entry
			return -1, nil
		}
		if keyLen >= 0x42 && 16+keyLen <= n {
			k := e[16 : 16+keyLen]
			nl := int(k[0x40])
			if 0x42+2*nl <= keyLen && strings.EqualFold(utf16String(k[0x42:0x42+2*nl]), name) {
				return int64(le.Uint64(e[0:]) & (1<<48 - 1)), nil
			}
		}
		off += n
	}
	return -1, nil
}
