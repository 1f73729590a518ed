// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// ntfs3Magic is the filesystem type the kernel's ntfs3 driver reports
// ("ntfs" in ASCII, fs/ntfs3/super.c).
const ntfs3Magic = 0x7366746e

// onNTFS3 reports whether folder p is on a filesystem the kernel's ntfs3
// driver mounted (not ntfs-3g, which is FUSE).
func onNTFS3(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && uint32(st.Type) == ntfs3Magic
}

// The extended attributes through which ntfs3 shows NTFS's own metadata:
// the file attributes (a big-endian 32-bit word) and the security
// descriptor (self-relative, as Windows stores it in $Secure).
const (
	xattrNTFSAttrib   = "system.ntfs_attrib_be"
	xattrNTFSSecurity = "system.ntfs_security"
)

// ntfsAttrs returns the NTFS attributes of the entry at p.
func ntfsAttrs(p string) (uint32, error) {
	var b [4]byte
	n, err := unix.Lgetxattr(p, xattrNTFSAttrib, b[:])
	if err != nil {
		return 0, err
	}
	if n != len(b) {
		return 0, unix.EINVAL
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// setNTFSAttrs sets the NTFS attributes of the entry at p.
func setNTFSAttrs(p string, a uint32) error {
	return unix.Lsetxattr(p, xattrNTFSAttrib, binary.BigEndian.AppendUint32(nil, a), 0)
}

// hasNTFSSecurity reports whether the entry at p has security descriptor
// sd: the same parts (sameSecurity, SACL included, which ntfs3 stores
// as given), whatever their layout.
func hasNTFSSecurity(p string, sd []byte) bool {
	cur, err := getxattr(p, xattrNTFSSecurity)
	return err == nil && (bytes.Equal(cur, sd) || sameSecurity(cur, sd, true))
}

// setNTFSSecurity gives the entry at p security descriptor sd, which the
// driver checks and stores in the volume's $Secure.
func setNTFSSecurity(p string, sd []byte) error {
	return unix.Lsetxattr(p, xattrNTFSSecurity, sd, 0)
}
