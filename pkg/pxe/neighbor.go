// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"bufio"
	"bytes"
	"os"
	"strings"
)

// A machine asks for its script (or GRUB configuration) by naming its MAC
// in the request; anyone on the LAN can name any MAC. Before a machine's
// task and password are given out, the server checks the MAC its own
// kernel resolved for the requesting address (to answer over TCP or UDP
// it had to): a machine asking for another's script is refused. This does
// not stop one that changes its own MAC to the other's (docs/PXE.md says
// so); it stops the casual request.

// Neighbors returns the MAC address the kernel's neighbour (ARP) table
// holds for an IPv4 address, "" if none. On Linux it reads /proc/net/arp;
// elsewhere it knows none.
func Neighbors(ip string) string {
	b, err := os.ReadFile("/proc/net/arp")
	if err != nil {
		return ""
	}
	return arpLookup(b, ip)
}

// arpLookup finds ip in the text of /proc/net/arp: "IP HWtype Flags HWaddr
// Mask Device" lines; an incomplete entry (flags 0x0) does not count.
func arpLookup(table []byte, ip string) string {
	sc := bufio.NewScanner(bytes.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[0] == ip && f[2] != "0x0" {
			if mac, err := ParseMAC(f[3]); err == nil && mac != "00:00:00:00:00:00" {
				return mac
			}
		}
	}
	return ""
}
