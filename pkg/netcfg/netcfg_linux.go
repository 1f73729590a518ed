// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"

	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"
)

// WiredLinks lists the wired network interfaces: real devices that are
// neither loopback nor wireless.
func WiredLinks() ([]netlink.Link, error) {
	all, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	var wired []netlink.Link
	for _, l := range all {
		a := l.Attrs()
		if l.Type() != "device" || a.Name == "lo" || a.EncapType == "loopback" {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/class/net", a.Name, "wireless")); err == nil {
			continue
		}
		wired = append(wired, l)
	}
	return wired, nil
}

// Configure brings up every wired link and asks DHCP (IPv4) for an address
// on all of them at once, configuring each link that gets one. It returns
// the leases, sorted by link name, and an error joining a *LinkError for each
// link that got none. It returns when every link has an answer or gave up,
// or when ctx is done. u-root's dhclient logs its progress to the standard
// logger.
func Configure(ctx context.Context, o Options) ([]Lease, error) {
	links, err := WiredLinks()
	if err != nil {
		return nil, err
	}
	if len(links) == 0 {
		return nil, errors.New("no wired network interface found: is the network card's driver missing, or is there only Wi-Fi?")
	}
	c := dhclient.Config{Timeout: o.Attempt, Retries: o.Retries}
	var leases []Lease
	var errs []error
	got := map[string]bool{}
	for r := range dhclient.SendRequests(ctx, links, true, false, c, o.LinkUp) {
		name := r.Interface.Attrs().Name
		if r.Err != nil {
			errs = append(errs, &LinkError{Link: name, Err: r.Err})
			continue
		}
		if err := r.Lease.Configure(); err != nil {
			errs = append(errs, &LinkError{Link: name, Err: fmt.Errorf("configuring the lease: %w", err)})
			continue
		}
		got[name] = true
		leases = append(leases, describe(name, r.Lease))
	}
	for _, l := range links {
		n := l.Attrs().Name
		if !got[n] && !hasErr(errs, n) {
			errs = append(errs, &LinkError{Link: n, Err: errors.New("link did not come up (no cable?)")})
		}
	}
	sort.Slice(leases, func(i, j int) bool { return leases[i].Link < leases[j].Link })
	return leases, errors.Join(errs...)
}

func hasErr(errs []error, link string) bool {
	for _, e := range errs {
		var le *LinkError
		if errors.As(e, &le) && le.Link == link {
			return true
		}
	}
	return false
}

func describe(link string, l dhclient.Lease) Lease {
	out := Lease{Link: link}
	m4, _ := l.Message()
	if m4 == nil {
		return out
	}
	mask := m4.SubnetMask()
	ones, _ := mask.Size()
	out.Addr = fmt.Sprintf("%s/%d", m4.YourIPAddr, ones)
	if r := m4.Router(); len(r) > 0 {
		out.Gateway = r[0].String()
	}
	for _, d := range m4.DNS() {
		out.DNS = append(out.DNS, d.String())
	}
	if s := m4.ServerIdentifier(); s != nil {
		out.Server = s.String()
	}
	return out
}

// Static sets address cidr ("192.168.1.50/24") on link and, when gateway
// is not "", a default route through it: for a network without DHCP.
func Static(ctx context.Context, link, cidr, gateway string) error {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return fmt.Errorf("network link %q: %w", link, err)
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("address %q is not like 192.168.1.50/24", cidr)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bringing %s up: %w", link, err)
	}
	if err := netlink.AddrReplace(l, addr); err != nil {
		return fmt.Errorf("setting %s on %s: %w", cidr, link, err)
	}
	if gateway == "" {
		return nil
	}
	gw := net.ParseIP(gateway)
	if gw == nil {
		return fmt.Errorf("gateway %q is not an IP address", gateway)
	}
	if err := netlink.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("setting the default route through %s: %w", gateway, err)
	}
	return nil
}
