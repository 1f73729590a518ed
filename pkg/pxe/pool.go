// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Pool is the full DHCP server of `pxe serve --dhcp-range`, for an isolated
// bench network with no other DHCP server: it hands out addresses from a
// range to every client, and boot information to PXE clients in the same
// answer. Leases live in memory: a bench is rebuilt often, and after a
// restart a client asking to keep its old address gets a NAK and starts
// over with a DISCOVER. Its methods may be called concurrently.
type Pool struct {
	first, last netip.Addr
	mask        net.IPMask
	leaseTime   time.Duration

	mu    sync.Mutex
	byMAC map[string]lease
	byIP  map[netip.Addr]string
}

type lease struct {
	ip      netip.Addr
	expires time.Time
}

// ErrRange marks a bad --dhcp-range.
var ErrRange = errors.New("bad DHCP range")

// NewPool makes a pool from a range "FIRST-LAST" (or "FIRST,LAST") inside
// the network of the server's address ip/mask.
func NewPool(spec string, ip net.IP, mask net.IPMask) (*Pool, error) {
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		a, b, ok = strings.Cut(spec, ",")
	}
	first, err1 := netip.ParseAddr(strings.TrimSpace(a))
	last, err2 := netip.ParseAddr(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || !first.Is4() || !last.Is4() || last.Less(first) {
		return nil, fmt.Errorf("--dhcp-range %s is not FIRST-LAST, two IPv4 addresses in order like 192.168.50.100-192.168.50.150: %w", safeText(spec), ErrRange)
	}
	n := net.IPNet{IP: ip.Mask(mask), Mask: mask}
	if !n.Contains(first.AsSlice()) || !n.Contains(last.AsSlice()) {
		return nil, fmt.Errorf("--dhcp-range %s is not inside the interface's network %s; pick addresses in it: %w", safeText(spec), n.String(), ErrRange)
	}
	if srv, _ := netip.AddrFromSlice(ip.To4()); !srv.Less(first) && !last.Less(srv) {
		return nil, fmt.Errorf("--dhcp-range %s holds the server's own address %s; leave it out: %w", safeText(spec), ip, ErrRange)
	}
	return &Pool{first: first, last: last, mask: mask, leaseTime: time.Hour,
		byMAC: map[string]lease{}, byIP: map[netip.Addr]string{}}, nil
}

// take returns mac's address: its lease if it has one, else the first free
// or expired address. ok is false when the range is exhausted.
func (p *Pool) take(mac string, now time.Time) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.byMAC[mac]; ok {
		l.expires = now.Add(p.leaseTime)
		p.byMAC[mac] = l
		return l.ip, true
	}
	for a := p.first; !p.last.Less(a); a = a.Next() {
		owner, used := p.byIP[a]
		if used && now.Before(p.byMAC[owner].expires) {
			continue
		}
		if used {
			delete(p.byMAC, owner)
		}
		p.byIP[a] = mac
		p.byMAC[mac] = lease{ip: a, expires: now.Add(p.leaseTime)}
		return a, true
	}
	return netip.Addr{}, false
}

// has reports whether mac holds ip.
func (p *Pool) has(mac string, ip netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.byMAC[mac]
	return ok && l.ip == ip
}

// Answer is the full DHCP server's answer to a packet from port 67: an
// OFFER to a DISCOVER, an ACK to a REQUEST for the client's address, a NAK
// to a REQUEST for another one; nil (and an error wrapping ErrIgnored) for
// anything else, including a REQUEST that names another server. PXE
// clients (as ParseClient tells them) get the boot file from bootFile in
// the same answer.
func (p *Pool) Answer(req *dhcpv4.DHCPv4, serverIP net.IP, now time.Time, bootFile func(Client) string) (*dhcpv4.DHCPv4, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || len(req.ClientHWAddr) != 6 {
		return nil, fmt.Errorf("not an Ethernet client's request: %w", ErrIgnored)
	}
	mac := req.ClientHWAddr.String()
	ip := serverIP.To4()
	var yours netip.Addr
	typ := dhcpv4.MessageTypeOffer
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		a, ok := p.take(mac, now)
		if !ok {
			return nil, fmt.Errorf("DISCOVER from %s: every address of the range is leased; widen --dhcp-range: %w", mac, ErrIgnored)
		}
		yours = a
	case dhcpv4.MessageTypeRequest:
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(ip) {
			return nil, fmt.Errorf("REQUEST from %s to server %s: %w", mac, sid, ErrIgnored)
		}
		want := req.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = req.ClientIPAddr
		}
		a, _ := netip.AddrFromSlice(want.To4())
		if !p.has(mac, a) {
			return dhcpv4.NewReplyFromRequest(req,
				dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip)))
		}
		p.take(mac, now) // renew
		yours, typ = a, dhcpv4.MessageTypeAck
	default:
		return nil, fmt.Errorf("%s from %s: %w", req.MessageType(), mac, ErrIgnored)
	}
	r, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithYourIP(yours.AsSlice()),
		dhcpv4.WithServerIP(ip),
		dhcpv4.WithNetmask(p.mask),
		dhcpv4.WithLeaseTime(uint32(p.leaseTime/time.Second)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip)),
	)
	if err != nil {
		return nil, err
	}
	// A PXE client: the boot file in the same answer, as a DHCP server
	// with PXE options gives it.
	if c, err := classify(req, req.MessageType()); err == nil {
		r.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
		r.ServerHostName = ip.String()
		r.BootFileName = bootFile(c)
	}
	return r, nil
}
