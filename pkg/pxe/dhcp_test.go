// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"errors"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// discover builds a DHCP packet as a PXE ROM or iPXE sends it: the options
// a real client puts in (message type, 93, 94, 97, 60, 77), in wire form.
func discover(t testing.TB, typ dhcpv4.MessageType, class string, arch []byte, userClass string, guid []byte) []byte {
	t.Helper()
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionVendorSpecificInformation, dhcpv4.OptionBootfileName),
	}
	if class != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(class)))
	}
	if arch != nil {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, arch))
	}
	if userClass != "" {
		// iPXE sends option 77 as a bare string, not RFC 3004 form.
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, []byte(userClass)))
	}
	if guid != nil {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, guid))
	}
	m, err := dhcpv4.NewDiscovery(testMAC, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m.ToBytes()
}

var guid = append([]byte{0}, []byte("0123456789abcdef")...)

func TestParseClient(t *testing.T) {
	const pxeClass = "PXEClient:Arch:00000:UNDI:002001"
	for _, tc := range []struct {
		name     string
		pkt      []byte
		port     int
		ok       bool
		firmware Firmware
		file     string
	}{
		{"BIOS PXE ROM", discover(t, dhcpv4.MessageTypeDiscover, pxeClass, []byte{0, 0}, "", guid), PortDHCP, true, FirmwareBIOS, BootBIOS},
		{"UEFI x64", discover(t, dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00007:UNDI:003016", []byte{0, 7}, "", guid), PortDHCP, true, FirmwareUEFI, BootUEFI},
		{"UEFI x64 (EFI BC)", discover(t, dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00009:UNDI:003016", []byte{0, 9}, "", nil), PortDHCP, true, FirmwareUEFI, BootUEFI},
		{"iPXE", discover(t, dhcpv4.MessageTypeDiscover, pxeClass, []byte{0, 0}, "iPXE", guid), PortDHCP, true, FirmwareIPXE, "http://s/boot/x"},
		{"iPXE, EFI", discover(t, dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00007:UNDI:003010", []byte{0, 7}, "iPXE", nil), PortDHCP, true, FirmwareIPXE, "http://s/boot/x"},
		{"request on 4011", discover(t, dhcpv4.MessageTypeRequest, pxeClass, []byte{0, 0}, "", nil), PortPXE, true, FirmwareBIOS, BootBIOS},
		{"an ordinary laptop", discover(t, dhcpv4.MessageTypeDiscover, "MSFT 5.0", nil, "", nil), PortDHCP, false, 0, ""},
		{"no class", discover(t, dhcpv4.MessageTypeDiscover, "", []byte{0, 0}, "", nil), PortDHCP, false, 0, ""},
		{"no arch", discover(t, dhcpv4.MessageTypeDiscover, pxeClass, nil, "", nil), PortDHCP, false, 0, ""},
		{"arm64 UEFI", discover(t, dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00011", []byte{0, 11}, "", nil), PortDHCP, false, 0, ""},
		{"HTTP boot client", discover(t, dhcpv4.MessageTypeDiscover, "HTTPClient:Arch:00016", []byte{0, 16}, "", nil), PortDHCP, false, 0, ""},
		{"request on 67 (the router's business)", discover(t, dhcpv4.MessageTypeRequest, pxeClass, []byte{0, 0}, "", nil), PortDHCP, false, 0, ""},
		{"discover on 4011", discover(t, dhcpv4.MessageTypeDiscover, pxeClass, []byte{0, 0}, "", nil), PortPXE, false, 0, ""},
		{"short GUID", discover(t, dhcpv4.MessageTypeDiscover, pxeClass, []byte{0, 0}, "", []byte{0, 1, 2}), PortDHCP, false, 0, ""},
		{"truncated", discover(t, dhcpv4.MessageTypeDiscover, pxeClass, []byte{0, 0}, "", nil)[:100], PortDHCP, false, 0, ""},
		{"empty", nil, PortDHCP, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, c, err := ParseClient(tc.pkt, tc.port)
			if !tc.ok {
				if !errors.Is(err, ErrIgnored) {
					t.Fatalf("ParseClient(%s) = %v, %v; want ErrIgnored", tc.name, c, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseClient(%s) = %v", tc.name, err)
			}
			if c.Firmware != tc.firmware || c.MAC.String() != testMAC.String() {
				t.Errorf("ParseClient(%s) = %v %v, want %v %v", tc.name, c.Firmware, c.MAC, tc.firmware, testMAC)
			}
			file := BootFile(c, "http://s/boot/x", "")
			if file != tc.file {
				t.Errorf("BootFile(%s) = %q, want %q", tc.name, file, tc.file)
			}
			server := net.IPv4(192, 168, 77, 2)
			r, err := Reply(req, c, server, file)
			if err != nil {
				t.Fatal(err)
			}
			checkReply(t, req, r.ToBytes(), c.Type, server, file)
		})
	}
}

// checkReply decodes a reply from the wire and checks what makes it a
// proxy-DHCP answer: no address, this server as next server and server
// id, PXEClient, discovery control 8, the boot file, the client's GUID back.
func checkReply(t *testing.T, req *dhcpv4.DHCPv4, wire []byte, typ dhcpv4.MessageType, server net.IP, file string) {
	t.Helper()
	r, err := dhcpv4.FromBytes(wire)
	if err != nil {
		t.Fatalf("the reply does not decode: %v", err)
	}
	want := dhcpv4.MessageTypeOffer
	if typ == dhcpv4.MessageTypeRequest {
		want = dhcpv4.MessageTypeAck
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"message type", r.MessageType(), want},
		{"op", r.OpCode, dhcpv4.OpcodeBootReply},
		{"xid", r.TransactionID, req.TransactionID},
		{"chaddr", r.ClientHWAddr.String(), req.ClientHWAddr.String()},
		{"yiaddr", r.YourIPAddr.String(), "0.0.0.0"},
		{"siaddr", r.ServerIPAddr.String(), server.String()},
		{"server id", r.ServerIdentifier().String(), server.String()},
		{"class", r.ClassIdentifier(), "PXEClient"},
		{"file", r.BootFileName, file},
		{"vendor options", string(r.Options.Get(dhcpv4.OptionVendorSpecificInformation)), "\x06\x01\x08\xff"},
		{"guid", string(r.Options.Get(dhcpv4.OptionClientMachineIdentifier)), string(req.Options.Get(dhcpv4.OptionClientMachineIdentifier))},
		{"router", len(r.Router()), 0},
		{"mask", r.SubnetMask() == nil, true},
	} {
		if c.got != c.want {
			t.Errorf("reply %s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if typ == dhcpv4.MessageTypeDiscover && !r.IsBroadcast() {
		t.Error("the offer does not have the broadcast flag: a client without an address cannot receive it")
	}
}

// FuzzParseClient: whatever arrives on port 67 or 4011, the decoder does
// not panic, and what it accepts gets a reply that decodes again into a
// proxy offer for the same client.
func FuzzParseClient(f *testing.F) {
	testutil.Seed(f, discover(f, dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00000:UNDI:002001", []byte{0, 0}, "", guid), PortDHCP)
	testutil.Seed(f, discover(f, dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00007:UNDI:003016", []byte{0, 7}, "iPXE", nil), PortDHCP)
	testutil.Seed(f, discover(f, dhcpv4.MessageTypeRequest, "PXEClient", []byte{0, 9}, "", guid), PortPXE)
	testutil.Seed(f, discover(f, dhcpv4.MessageTypeDiscover, "MSFT 5.0", nil, "", nil), PortDHCP)
	testutil.Seed(f, []byte{1, 1, 6, 0}, PortDHCP)
	f.Fuzz(func(t *testing.T, b []byte, port int) {
		if port != PortPXE {
			port = PortDHCP
		}
		req, c, err := ParseClient(b, port)
		if err != nil {
			if !errors.Is(err, ErrIgnored) {
				t.Fatalf("ParseClient: error %v does not wrap ErrIgnored", err)
			}
			return
		}
		file := BootFile(c, "http://192.168.77.2:8080/boot/x", "")
		r, err := Reply(req, c, net.IPv4(192, 168, 77, 2), file)
		if err != nil {
			t.Fatal(err)
		}
		checkReply(t, req, r.ToBytes(), c.Type, net.IPv4(192, 168, 77, 2), file)
	})
}
