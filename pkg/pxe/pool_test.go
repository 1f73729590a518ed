// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestNewPool(t *testing.T) {
	ip, mask := net.IPv4(192, 168, 50, 1), net.CIDRMask(24, 32)
	for _, spec := range []string{"192.168.50.100-192.168.50.150", "192.168.50.100,192.168.50.100"} {
		if _, err := NewPool(spec, ip, mask); err != nil {
			t.Errorf("NewPool(%q) = %v", spec, err)
		}
	}
	for _, spec := range []string{"", "192.168.50.100", "192.168.50.150-192.168.50.100", "10.0.0.1-10.0.0.9", "192.168.50.1-192.168.50.9", "fe80::1-fe80::2", "a-b"} {
		if _, err := NewPool(spec, ip, mask); !errors.Is(err, ErrRange) {
			t.Errorf("NewPool(%q) = %v, want ErrRange", spec, err)
		}
	}
}

// TestPoolExchange runs DISCOVER, OFFER, REQUEST, ACK through the wire
// format for an ordinary client and a PXE client, and checks the refusals.
func TestPoolExchange(t *testing.T) {
	server := net.IPv4(192, 168, 50, 1).To4()
	p, err := NewPool("192.168.50.100-192.168.50.101", server, net.CIDRMask(24, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	boot := func(c Client) string { return BootFile(c, "http://192.168.50.1:8080/boot/x", "") }
	answer := func(pkt []byte) *dhcpv4.DHCPv4 {
		t.Helper()
		req, err := dhcpv4.FromBytes(pkt)
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.Answer(req, server, now, boot)
		if err != nil {
			return nil
		}
		again, err := dhcpv4.FromBytes(r.ToBytes())
		if err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
		return again
	}
	request := func(mac net.HardwareAddr, ip, sid net.IP, pxe bool) []byte {
		mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))}
		if sid != nil {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(sid)))
		}
		if pxe {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000")),
				dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0}))
		}
		m, _ := dhcpv4.NewDiscovery(mac, mods...)
		return m.ToBytes()
	}

	laptop := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	plain, _ := dhcpv4.NewDiscovery(laptop)
	offer := answer(plain.ToBytes())
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer || offer.YourIPAddr.String() != "192.168.50.100" ||
		offer.SubnetMask().String() != "ffffff00" || offer.BootFileName != "" || offer.ClassIdentifier() != "" {
		t.Fatalf("offer to a laptop = %v", offer)
	}
	if a := answer(request(laptop, offer.YourIPAddr, server, false)); a == nil || a.MessageType() != dhcpv4.MessageTypeAck || !a.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Errorf("REQUEST of the offered address = %v, want ACK", a)
	}
	if a := answer(request(laptop, net.IPv4(192, 168, 50, 101), server, false)); a == nil || a.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("REQUEST of another address = %v, want NAK", a)
	}
	if a := answer(request(laptop, offer.YourIPAddr, net.IPv4(192, 168, 50, 254), false)); a != nil {
		t.Errorf("REQUEST to another server = %v, want no answer", a)
	}

	pc := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	offer = answer(discover(t, dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00000:UNDI:002001", []byte{0, 0}, "", nil))
	if offer == nil || offer.YourIPAddr.String() != "192.168.50.101" || offer.BootFileName != BootBIOS ||
		offer.ClassIdentifier() != "PXEClient" || !offer.ServerIPAddr.Equal(server) {
		t.Fatalf("offer to a PXE client = %v", offer)
	}
	if a := answer(request(pc, offer.YourIPAddr, server, true)); a == nil || a.MessageType() != dhcpv4.MessageTypeAck || a.BootFileName != BootBIOS {
		t.Errorf("ACK to a PXE client = %v, want its boot file", a)
	}

	// Full: a third machine gets nothing until a lease expires.
	third, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 0, 3})
	if a := answer(third.ToBytes()); a != nil {
		t.Errorf("offer from a full range = %v", a)
	}
	now = now.Add(2 * time.Hour)
	if a := answer(third.ToBytes()); a == nil || a.YourIPAddr.String() != "192.168.50.100" {
		t.Errorf("offer after the leases expired = %v, want 192.168.50.100", a)
	}
}
