// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"golang.org/x/sync/errgroup"
)

// Config is a whole server: proxy-DHCP on one interface, TFTP and HTTP.
type Config struct {
	HTTPConfig
	// Interface is the network interface the machines are on. The
	// proxy-DHCP server listens only there.
	Interface string
	// IP is this server's address on Interface, the one machines are told
	// to load from; Mask its network's (for Wake-on-LAN's broadcast).
	IP   net.IP
	Mask net.IPMask
	// HTTPAddr is the address the HTTP server listens on (":8080"). Base
	// is derived from IP and its port.
	HTTPAddr string
	// TFTPPort is 69 but for tests.
	TFTPPort int
	// NoDHCP serves TFTP and HTTP only, for a network whose DHCP server
	// already points machines here.
	NoDHCP bool
	// UEFIBoot is the first stage UEFI firmware gets: BootUEFI (iPXE,
	// no Secure Boot) if empty, or BootShim (shim and GRUB, signed).
	UEFIBoot string
	// seen is told each MAC that asks for its boot file (the scheduler
	// stops waking it).
	seen func(mac string)
	// Pool, if set, makes port 67 a full DHCP server handing out its
	// addresses (--dhcp-range, for an isolated bench network) instead of
	// proxy-DHCP.
	Pool *Pool
}

// InterfaceIP returns the first IPv4 address (with its network mask) of
// the interface name, or, with name "", of the only interface that is up,
// not loopback and has one; it says which it chose.
func InterfaceIP(name string) (string, *net.IPNet, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", nil, err
	}
	var found []string
	var ips []*net.IPNet
	for _, i := range ifs {
		if name != "" && i.Name != name || name == "" && (i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0) {
			continue
		}
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				found, ips = append(found, i.Name), append(ips, &net.IPNet{IP: n.IP.To4(), Mask: n.Mask})
				break
			}
		}
	}
	switch {
	case name != "" && len(found) == 0:
		return "", nil, fmt.Errorf("interface %s has no IPv4 address (or does not exist); give it one or name another with --interface", name)
	case len(found) == 0:
		return "", nil, errors.New("no network interface with an IPv4 address is up; connect the network and name it with --interface")
	case len(found) > 1:
		return "", nil, fmt.Errorf("more than one network interface is up (%v); name the one the machines are on with --interface", found)
	}
	return found[0], ips[0], nil
}

// Serve runs the servers until ctx is done or one of them fails.
func Serve(ctx context.Context, c Config) error {
	hl, err := net.Listen("tcp4", c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP on %s: %w; pick another address with --http", c.HTTPAddr, err)
	}
	port := hl.Addr().(*net.TCPAddr).Port
	c.Base = "http://" + net.JoinHostPort(c.IP.String(), strconv.Itoa(port))
	tport := c.TFTPPort
	if tport == 0 {
		tport = 69
	}
	tl, err := net.ListenUDP("udp4", &net.UDPAddr{IP: c.IP, Port: tport})
	if err != nil {
		hl.Close()
		return fmt.Errorf("TFTP on %s port %d: %w (port 69 needs root or CAP_NET_BIND_SERVICE)", c.IP, tport, err)
	}
	var dhcp []net.PacketConn
	if !c.NoDHCP {
		for _, p := range []int{PortDHCP, PortPXE} {
			dc, err := server4.NewIPv4UDPConn(c.Interface, &net.UDPAddr{Port: p})
			if err != nil {
				hl.Close()
				tl.Close()
				for _, d := range dhcp {
					d.Close()
				}
				return fmt.Errorf("proxy-DHCP on %s port %d: %w (needs root or CAP_NET_BIND_SERVICE and CAP_NET_RAW)", c.Interface, p, err)
			}
			dhcp = append(dhcp, dc)
		}
	}

	g, ctx := errgroup.WithContext(ctx)
	site := NewSite(c.HTTPConfig)
	srv := &http.Server{Handler: site.Handler(), ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		err := srv.Serve(hl)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	ts := &TFTPServer{Bundle: c.Bundle, Log: c.Log, Dynamic: site.TFTPFile}
	sched := &Scheduler{Tasks: c.Tasks, Log: c.Log, Wake: WakeOnLAN(c.IP, BroadcastAddr(&net.IPNet{IP: c.IP, Mask: c.Mask}))}
	c.seen = sched.Seen
	g.Go(func() error { return ignoreCancel(sched.Run(ctx)) })
	g.Go(func() error { return ignoreCancel(ts.Serve(ctx, tl)) })
	for i, dc := range dhcp {
		port := []int{PortDHCP, PortPXE}[i]
		g.Go(func() error { return ignoreCancel(serveDHCP(ctx, dc, port, c)) })
	}
	mode := "proxy-DHCP on " + c.Interface + " (ports 67, 4011), "
	switch {
	case c.NoDHCP:
		mode = "no DHCP, "
	case c.Pool != nil:
		mode = "full DHCP on " + c.Interface + " (addresses " + c.Pool.first.String() + " to " + c.Pool.last.String() + "), "
	}
	c.Log("serving %s: %sTFTP on %s:%d, HTTP at %s; tasks in %s", c.Bundle.Dir(), mode, c.IP, tport, c.Base, c.Tasks.Path())
	return g.Wait()
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// serveDHCP answers PXE clients on conn (port 67 or 4011) until ctx is
// done. It handles one packet at a time: a decision is microseconds, and
// a flood then costs one buffer, not a goroutine per packet.
func serveDHCP(ctx context.Context, conn net.PacketConn, port int, c Config) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	refused := newLogLimit(c.Log, time.Second, 5)
	buf := make([]byte, maxDHCP+1)
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("proxy-DHCP port %d: %w", port, err)
		}
		if c.Pool != nil && port == PortDHCP {
			serveFull(conn, buf[:n], c, refused)
			continue
		}
		req, cl, err := ParseClient(buf[:n], port)
		if err != nil {
			// Every machine on the LAN asks the router for an address
			// through here, and PXE clients request theirs from it:
			// only a refused PXE discover, anything on 4011 and
			// garbage are worth a (rate-limited) line.
			if req == nil || port == PortPXE ||
				strings.HasPrefix(req.ClassIdentifier(), "PXEClient") && req.MessageType() == dhcpv4.MessageTypeDiscover {
				refused.logf("dhcp: port %d: %v", port, err)
			}
			continue
		}
		c.seen(cl.MAC.String())
		file := BootFile(cl, c.Base+"/boot/"+dashMAC(cl.MAC.String()), c.UEFIBoot)
		resp, err := Reply(req, cl, c.IP, file)
		if err != nil {
			c.Log("dhcp: %s: %v", cl.MAC, err)
			continue
		}
		to := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
		if u, ok := peer.(*net.UDPAddr); ok && port == PortPXE && !u.IP.IsUnspecified() {
			to = u // the 4011 exchange is unicast, the client has its address
		}
		if _, err := conn.WriteTo(resp.ToBytes(), to); err != nil {
			c.Log("dhcp: %s: sending the answer: %v", cl.MAC, err)
			continue
		}
		c.Log("dhcp: %s (%s, arch %d) %s on port %d: boot file %s", cl.MAC, cl.Firmware, cl.Arch, resp.MessageType(), port, file)
	}
}

// serveFull answers one packet as the full DHCP server of --dhcp-range.
func serveFull(conn net.PacketConn, b []byte, c Config, refused *logLimit) {
	if len(b) > maxDHCP {
		return
	}
	req, err := dhcpv4.FromBytes(b)
	if err != nil {
		refused.logf("dhcp: malformed packet: %v", err)
		return
	}
	var file string
	resp, err := c.Pool.Answer(req, c.IP, time.Now(), func(cl Client) string {
		c.seen(cl.MAC.String())
		file = BootFile(cl, c.Base+"/boot/"+dashMAC(cl.MAC.String()), c.UEFIBoot)
		return file
	})
	if err != nil {
		refused.logf("dhcp: %v", err)
		return
	}
	to := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	if !req.IsBroadcast() && req.ClientIPAddr != nil && !req.ClientIPAddr.IsUnspecified() {
		to.IP = req.ClientIPAddr
	}
	if _, err := conn.WriteTo(resp.ToBytes(), to); err != nil {
		c.Log("dhcp: %s: sending the answer: %v", req.ClientHWAddr, err)
		return
	}
	if file != "" {
		file = ", boot file " + file
	}
	c.Log("dhcp: %s %s %s%s", req.ClientHWAddr, resp.MessageType(), resp.YourIPAddr, file)
}
