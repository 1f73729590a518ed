// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package pxe serves rewind's boot environment to machines that boot from
// the network: a proxy-DHCP server that answers only PXE clients and only
// with boot information (so it sits beside the shop router's DHCP server),
// a read-only TFTP server for the first stage (iPXE), and an HTTP server for
// the per-machine iPXE script, the kernel, the initramfs, the per-machine
// settings and the environment's report when a task is done. What each
// machine does is in a tasks file (tasks.go) that the server re-reads when
// it changes.
package pxe

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// First-stage boot files, from Debian's ipxe package, served by TFTP.
const (
	BootBIOS = "undionly.kpxe" // legacy BIOS PXE ROMs: iPXE over the ROM's UNDI driver
	BootUEFI = "ipxe.efi"      // x86-64 UEFI without Secure Boot
)

// The DHCP ports: 67 for the broadcast exchange, 4011 for the PXE boot
// server exchange that clients start when a proxy offer asks them to.
const (
	PortDHCP = 67
	PortPXE  = 4011
)

// Firmware is the kind of client a request came from.
type Firmware int

// The firmware kinds rewind boots.
const (
	FirmwareBIOS Firmware = iota // legacy BIOS PXE ROM (option 93 = 0)
	FirmwareUEFI                 // x86-64 UEFI (option 93 = 7 or 9)
	FirmwareIPXE                 // iPXE itself (user class "iPXE"), either platform
)

func (f Firmware) String() string {
	switch f {
	case FirmwareBIOS:
		return "BIOS"
	case FirmwareUEFI:
		return "UEFI"
	case FirmwareIPXE:
		return "iPXE"
	}
	return fmt.Sprintf("firmware(%d)", int(f))
}

// Client is a PXE boot request that this server answers.
type Client struct {
	MAC      net.HardwareAddr
	Firmware Firmware
	Arch     uint16 // option 93, as the client sent it
	// Type is the request's message type: Discover on port 67, Request
	// on port 4011.
	Type dhcpv4.MessageType
}

// ErrIgnored marks a DHCP packet that the server does not answer: not a
// PXE client, not a message type it answers, or malformed. The text says
// which, for the log; nothing is sent back.
var ErrIgnored = errors.New("not answered")

// maxDHCP bounds a DHCP packet read from the network: a BOOTP packet is 576
// bytes at least, Ethernet carries at most 1500.
const maxDHCP = 1500

// ParseClient decodes a DHCP packet that arrived on port (67 or 4011) and
// decides whether it is a PXE boot request this server answers: a
// DHCPDISCOVER on port 67 or a DHCPREQUEST on 4011, from an Ethernet
// client, carrying option 60 "PXEClient..." and option 93 naming an x86
// BIOS or x86-64 UEFI client. Anything else is an error wrapping
// ErrIgnored. It never panics, whatever b holds.
func ParseClient(b []byte, port int) (*dhcpv4.DHCPv4, Client, error) {
	if len(b) > maxDHCP {
		return nil, Client{}, fmt.Errorf("%d-byte packet, more than a DHCP packet holds: %w", len(b), ErrIgnored)
	}
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		return nil, Client{}, fmt.Errorf("malformed DHCP packet (%v): %w", err, ErrIgnored)
	}
	want := dhcpv4.MessageTypeDiscover
	if port == PortPXE {
		want = dhcpv4.MessageTypeRequest
	}
	if m.OpCode == dhcpv4.OpcodeBootRequest && len(m.ClientHWAddr) == 6 {
		if t := m.MessageType(); t != want {
			return m, Client{}, fmt.Errorf("%s from %s on port %d: only %s is answered there: %w", t, m.ClientHWAddr, port, want, ErrIgnored)
		}
	}
	c, err := classify(m, want)
	return m, c, err
}

// classify tells whether m, a message of type want, comes from a PXE client
// this server boots.
func classify(m *dhcpv4.DHCPv4, want dhcpv4.MessageType) (Client, error) {
	if m.OpCode != dhcpv4.OpcodeBootRequest {
		return Client{}, fmt.Errorf("not a request (op %v): %w", m.OpCode, ErrIgnored)
	}
	if len(m.ClientHWAddr) != 6 {
		return Client{}, fmt.Errorf("hardware address of %d bytes, not Ethernet: %w", len(m.ClientHWAddr), ErrIgnored)
	}
	mac := m.ClientHWAddr
	if t := m.MessageType(); t != want {
		return Client{}, fmt.Errorf("%s from %s where %s was expected: %w", t, mac, want, ErrIgnored)
	}
	if !strings.HasPrefix(m.ClassIdentifier(), "PXEClient") {
		return Client{}, fmt.Errorf("%s from %s is not from a PXE client (no option 60 PXEClient): %w", want, mac, ErrIgnored)
	}
	a := m.Options.Get(dhcpv4.OptionClientSystemArchitectureType)
	if len(a) < 2 {
		return Client{}, fmt.Errorf("PXE request from %s without a client architecture (option 93): %w", mac, ErrIgnored)
	}
	c := Client{MAC: mac, Arch: uint16(a[0])<<8 | uint16(a[1]), Type: want}
	switch c.Arch {
	case 0:
		c.Firmware = FirmwareBIOS
	case 7, 9:
		c.Firmware = FirmwareUEFI
	default:
		return Client{}, fmt.Errorf("PXE request from %s for client architecture %d: rewind boots x86 BIOS (0) and x86-64 UEFI (7, 9) only: %w", mac, c.Arch, ErrIgnored)
	}
	if guid := m.Options.Get(dhcpv4.OptionClientMachineIdentifier); guid != nil && (len(guid) != 17 || guid[0] != 0) {
		return Client{}, fmt.Errorf("PXE request from %s with a malformed client GUID (option 97): %w", mac, ErrIgnored)
	}
	for _, uc := range m.UserClass() {
		if uc == "iPXE" {
			c.Firmware = FirmwareIPXE
		}
	}
	return c, nil
}

// BootShim is the first stage for UEFI with Secure Boot: Debian's signed
// shim, which loads grubx64.efi (Debian's signed network GRUB) from the same
// TFTP folder.
const BootShim = "shimx64.efi"

// BootFile is what the server tells a client to load next: a first-stage
// file by TFTP for firmware (uefi for UEFI: BootUEFI, or BootShim for
// Secure Boot), the HTTP URL of the machine's iPXE script for iPXE.
// scriptURL is that URL.
func BootFile(c Client, scriptURL, uefi string) string {
	switch c.Firmware {
	case FirmwareBIOS:
		return BootBIOS
	case FirmwareUEFI:
		if uefi == "" {
			return BootUEFI
		}
		return uefi
	}
	return scriptURL
}

// Reply is the proxy-DHCP answer to req from c: a DHCPOFFER to a discover,
// a DHCPACK to a request on port 4011. It hands out no address (yiaddr
// stays 0.0.0.0) and no network settings, only boot information, as the
// PXE specification's proxy-DHCP service does: option 60 "PXEClient",
// option 54 and siaddr naming this server, the boot file, and PXE vendor
// option 6 (discovery control) = 8, which tells the client to take the
// boot file from this offer rather than run the boot server discovery. A
// client that asks on port 4011 anyway gets the same answer there.
func Reply(req *dhcpv4.DHCPv4, c Client, serverIP net.IP, bootFile string) (*dhcpv4.DHCPv4, error) {
	typ := dhcpv4.MessageTypeOffer
	if c.Type == dhcpv4.MessageTypeRequest {
		typ = dhcpv4.MessageTypeAck
	}
	ip := serverIP.To4()
	if ip == nil {
		return nil, fmt.Errorf("server address %v is not IPv4", serverIP)
	}
	r, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithServerIP(ip),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient")),
		dhcpv4.WithGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}),
	)
	if err != nil {
		return nil, err
	}
	if c.Type == dhcpv4.MessageTypeDiscover {
		r.SetBroadcast()
	}
	if guid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); guid != nil {
		r.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, bytes.Clone(guid)))
	}
	r.ServerHostName = ip.String()
	r.BootFileName = bootFile
	return r, nil
}
