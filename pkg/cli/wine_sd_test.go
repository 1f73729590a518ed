// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build linux

package cli

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Security descriptors under Wine. Wine 10 as Debian ships it keeps no
// descriptor of a file: it makes one from the file's Unix mode and owner
// each time it is asked (server/file.c, mode_to_sd: full access for
// SYSTEM, the owner's rights for the user, the others' for Everyone,
// and nothing for the group), and setting one sets the mode it maps to
// (sd_to_mode) and drops the rest: owner, group, SACL. (Storing the
// whole descriptor in the extended attribute user.wine.sd is a patch of
// wine-staging; this Wine's server calls no *xattr function.) So what the
// test can see is the DACL, through the mode: a file the others may not
// read has no Everyone in its DACL, and a replay that does not write the
// descriptor leaves Everyone in the DACL of the file it makes.

// sdParts are a security descriptor's parts, read on their own to check
// rewind's reading (pkg/files, parseSD): the control bits the test
// compares (present, protected, auto-inherited, of DACL and SACL), owner,
// group, SACL, DACL.
type sdParts struct {
	Control                  uint16
	Owner, Group, SACL, DACL []byte
}

const sdCompared = 0x0004 | 0x0010 | 0x0400 | 0x0800 | 0x1000 | 0x2000

var errSD = errors.New("malformed security descriptor")

// parseSelfRelative reads a self-relative security descriptor ([MS-DTYP]
// 2.4.6), as Windows programs see it and rewind records it.
func parseSelfRelative(b []byte) (sdParts, error) {
	if len(b) < 20 || b[0] != 1 {
		return sdParts{}, errSD
	}
	le := binary.LittleEndian
	p := sdParts{Control: le.Uint16(b[2:]) & sdCompared}
	for k, part := range []*[]byte{&p.Owner, &p.Group, &p.SACL, &p.DACL} {
		off := int(le.Uint32(b[4+4*k:]))
		if off == 0 {
			continue
		}
		if off+4 > len(b) {
			return sdParts{}, errSD
		}
		n := 8 + 4*int(b[off+1]) // a SID
		if k >= 2 {
			n = int(le.Uint16(b[off+2:])) // an ACL
		}
		if off+n > len(b) {
			return sdParts{}, errSD
		}
		*part = b[off : off+n]
	}
	return p, nil
}

// sidEveryone is S-1-1-0.
var sidEveryone = []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}

// privateEntries are entries of the test's tree that the others may not
// read (mode 0600, 0700): under Wine, no Everyone in their DACL.
var privateEntries = map[string]os.FileMode{"Documents/a/b/c/d/deep.txt": 0o600, "Documents/a/b": 0o700}

// aclChanged is made private (0600) between the two backups: a change of
// its descriptor only, which the second snapshot must hold and a replay
// onto the first must set although the file is otherwise unchanged. (Its
// change time moves, so the backup reads it again: it is empty, so that
// does not show in the bytes read.)
const aclChanged = "Documents/empty"

// makePrivate gives privateEntries under host folder dir their modes.
func makePrivate(t *testing.T, dir string) {
	t.Helper()
	for rel, mode := range privateEntries {
		if err := os.Chmod(filepath.Join(dir, rel), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// checkPrivate fails the test unless the snapshot's descriptors of
// privateEntries (meta, by relative path) let Everyone in nowhere, and
// those of the entries beside them do: the descriptors a backup records
// are each entry's own.
func checkPrivate(t *testing.T, meta map[string]wineMeta) {
	t.Helper()
	for rel, want := range map[string]bool{"Documents/a/b/c/d/deep.txt": false, "Documents/a/b": false, "Documents/a": true, "Documents/empty": true} {
		sd := meta[rel].SD
		if got := bytes.Contains(sd.DACL, sidEveryone); got != want || len(sd.Owner) == 0 || sd.Control&0x0004 == 0 {
			t.Errorf("the snapshot's security descriptor of %s = %+v: Everyone in its DACL %v, want %v, and an owner and a DACL", rel, sd, got, want)
		}
	}
}

// checkPrivateModes fails the test unless privateEntries and more under
// host folder dir give the others no access, as the descriptor replayed
// says.
func checkPrivateModes(t *testing.T, what, dir string, more ...string) {
	t.Helper()
	rels := slices.Sorted(maps.Keys(privateEntries))
	for _, rel := range append(rels, more...) {
		fi, err := os.Stat(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s: %s has mode %o; want no access for the others, as its security descriptor says", what, rel, fi.Mode().Perm())
		}
	}
}
