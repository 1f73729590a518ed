// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !unix

package pxe

import (
	"io/fs"
	"net"
)

// lockFile does not lock: the PXE server runs on Linux; elsewhere only one
// process is expected to edit the tasks file at a time.
func lockFile(path string) (func(), error) { return func() {}, nil }

func inode(fi fs.FileInfo) uint64 { return 0 }

// setBroadcast: Wake-on-LAN is sent by the Linux server only.
func setBroadcast(c *net.UDPConn) error { return nil }
