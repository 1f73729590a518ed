// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// A Windows security descriptor as a snapshot keeps it (repo.Node.Security):
// self-relative, as GetSecurityInfo returns it and NTFS stores it
// (SECURITY_DESCRIPTOR_RELATIVE, [MS-DTYP] 2.4.6): revision, a byte, the
// control word, then the offsets of the owner, the group, the SACL and the
// DACL from its start (0: none).

// Control bits of a security descriptor (winnt.h).
const (
	sdDACLPresent       = 0x0004
	sdSACLPresent       = 0x0010
	sdDACLAutoInherited = 0x0400
	sdSACLAutoInherited = 0x0800
	sdDACLProtected     = 0x1000
	sdSACLProtected     = 0x2000

	sdDACLBits = sdDACLPresent | sdDACLAutoInherited | sdDACLProtected
	sdSACLBits = sdSACLPresent | sdSACLAutoInherited | sdSACLProtected
)

// sdParts are the parts of a self-relative security descriptor, each as
// its bytes (nil when absent).
type sdParts struct {
	control                  uint16
	owner, group, sacl, dacl []byte
}

var errBadSD = errors.New("not a self-relative security descriptor")

// parseSD returns the parts of self-relative security descriptor b.
func parseSD(b []byte) (sdParts, error) {
	if len(b) < 20 || b[0] != 1 {
		return sdParts{}, errBadSD
	}
	le := binary.LittleEndian
	p := sdParts{control: le.Uint16(b[2:])}
	part := func(at int, size func([]byte) int) ([]byte, error) {
		off := int(le.Uint32(b[at:]))
		if off == 0 {
			return nil, nil
		}
		if off < 20 || off+4 > len(b) {
			return nil, errBadSD
		}
		n := size(b[off:])
		if n < 4 || off+n > len(b) {
			return nil, errBadSD
		}
		return b[off : off+n], nil
	}
	// A SID is 8 bytes and 4 for each sub-authority (its second byte); an
	// ACL's size is its second 16-bit word.
	sid := func(x []byte) int { return 8 + 4*int(x[1]) }
	acl := func(x []byte) int { return int(le.Uint16(x[2:])) }
	var err error
	if p.owner, err = part(4, sid); err != nil {
		return sdParts{}, err
	}
	if p.group, err = part(8, sid); err != nil {
		return sdParts{}, err
	}
	if p.sacl, err = part(12, acl); err != nil {
		return sdParts{}, err
	}
	if p.dacl, err = part(16, acl); err != nil {
		return sdParts{}, err
	}
	return p, nil
}

// hasSACL reports whether security descriptor sd holds a SACL (auditing,
// which takes SeSecurityPrivilege to read and to write).
func hasSACL(sd []byte) bool {
	p, err := parseSD(sd)
	return err == nil && p.control&sdSACLPresent != 0
}

// sameSecurity reports whether security descriptors a and b give the same
// owner, group and DACL, and with sacl the same SACL: the parts a replay
// sets. The layout of the bytes does not matter, nor control bits that
// only say how the descriptor was made (SE_SELF_RELATIVE, defaulted).
func sameSecurity(a, b []byte, sacl bool) bool {
	pa, err := parseSD(a)
	if err != nil {
		return false
	}
	pb, err := parseSD(b)
	if err != nil {
		return false
	}
	mask := uint16(sdDACLBits)
	if sacl {
		mask |= sdSACLBits
		if !bytes.Equal(pa.sacl, pb.sacl) {
			return false
		}
	}
	return pa.control&mask == pb.control&mask && bytes.Equal(pa.owner, pb.owner) &&
		bytes.Equal(pa.group, pb.group) && bytes.Equal(pa.dacl, pb.dacl)
}

// Windows privileges a backup and a replay enable when the process's
// token holds them (an administrator's elevated prompt).
const (
	privBackup   = "SeBackupPrivilege"   // read any file's descriptor
	privRestore  = "SeRestorePrivilege"  // write any descriptor, with any owner
	privSecurity = "SeSecurityPrivilege" // read and write SACLs
)
