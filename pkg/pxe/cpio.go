// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"bytes"
	"fmt"
)

// cpioEntry is one entry of a newc cpio archive.
type cpioEntry struct {
	name string
	mode uint32 // type and permission bits, as in struct stat
	data []byte
}

// The mode bits used here.
const (
	cpioDir  = 0o040000
	cpioFile = 0o100000
)

// newc writes entries as a "newc" cpio archive, the format the kernel
// unpacks from an initrd. The kernel lays a later initrd's files over the
// earlier ones', so a small archive holding /etc/rewind/rewind.conf
// replaces the initramfs's own.
func newc(entries []cpioEntry) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	write := func(ino int, e cpioEntry) {
		nlink := 1
		if e.mode&cpioDir != 0 {
			nlink = 2
		}
		// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
		// devminor, rdevmajor, rdevminor, namesize, check
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, 0, 0, len(e.name)+1, 0)
		b.WriteString(e.name)
		b.WriteByte(0)
		pad()
		b.Write(e.data)
		pad()
	}
	for i, e := range entries {
		write(i+1, e)
	}
	write(0, cpioEntry{name: "TRAILER!!!"})
	return b.Bytes()
}

// settingsArchive is the per-machine settings initrd: rewind.conf naming
// the password file, and the password file (mode 0600).
func settingsArchive(mac string, password []byte) []byte {
	conf := fmt.Sprintf("# written by rewind pxe serve for %s; the other settings are on the kernel command line\npassword_file = /etc/rewind/password\n", mac)
	return newc([]cpioEntry{
		{name: "etc", mode: cpioDir | 0o755},
		{name: "etc/rewind", mode: cpioDir | 0o755},
		{name: "etc/rewind/rewind.conf", mode: cpioFile | 0o644, data: []byte(conf)},
		{name: "etc/rewind/password", mode: cpioFile | 0o600, data: password},
	})
}
