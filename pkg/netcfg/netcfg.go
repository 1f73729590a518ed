// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package netcfg brings up the boot environment's wired network: every wired
// link, configured by DHCP. On Linux it uses u-root's pkg/dhclient.
package netcfg

import (
	"fmt"
	"strings"
	"time"
)

// Options bound the DHCP attempt.
type Options struct {
	// LinkUp is how long to wait for a link's carrier.
	LinkUp time.Duration
	// Attempt is the timeout of one DHCP request; Retries how many more.
	Attempt time.Duration
	Retries int
}

// DefaultOptions wait up to ~10 s for a cable and ~25 s for a DHCP server.
func DefaultOptions() Options {
	return Options{LinkUp: 10 * time.Second, Attempt: 5 * time.Second, Retries: 4}
}

// Lease is what DHCP gave one link.
type Lease struct {
	Link    string   // interface name, e.g. "eth0"
	Addr    string   // address with prefix length, e.g. "10.0.2.15/24"
	Gateway string   // default gateway, "" if none
	DNS     []string // name servers
	Server  string   // the DHCP server that answered
}

// String is a line for the console.
func (l Lease) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", l.Link, l.Addr)
	if l.Gateway != "" {
		fmt.Fprintf(&b, " gateway %s", l.Gateway)
	}
	if len(l.DNS) > 0 {
		fmt.Fprintf(&b, " dns %s", strings.Join(l.DNS, ","))
	}
	if l.Server != "" {
		fmt.Fprintf(&b, " (dhcp server %s)", l.Server)
	}
	return b.String()
}

// LinkError is a wired link that got no lease.
type LinkError struct {
	Link string
	Err  error
}

func (e *LinkError) Error() string { return fmt.Sprintf("%s: %v", e.Link, e.Err) }
func (e *LinkError) Unwrap() error { return e.Err }
