// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A small read-only TFTP server (RFC 1350, with the blksize, tsize and
// timeout options of RFC 2347-2349 that PXE ROMs use). It serves only the
// first stage, a file of a few hundred KiB to a few MiB, so it does no more
// than that: no writes, no netascii, one socket per transfer, a bounded
// number of transfers at once. A kept library (pin/tftp) would bring a
// write path and a request decoder of its own; this one is small enough to
// read in one sitting and its decoder has a fuzz target.

// TFTP opcodes.
const (
	tftpRRQ   = 1
	tftpWRQ   = 2
	tftpDATA  = 3
	tftpACK   = 4
	tftpERROR = 5
	tftpOACK  = 6
)

// TFTP error codes.
const (
	tftpErrUndefined = 0
	tftpErrNotFound  = 1
	tftpErrAccess    = 2
	tftpErrIllegal   = 4
	tftpErrOption    = 8
)

// ReadRequest is a decoded TFTP read request.
type ReadRequest struct {
	Filename string
	Mode     string // "octet" (netascii is refused)
	// Options the client asked for that the server accepts, with the
	// values it will use; none asked for means plain RFC 1350, no OACK.
	BlockSize int           // 0: not asked, 512
	TSize     bool          // the client asked for the file size
	Timeout   time.Duration // 0: not asked
}

// ErrTFTPRequest marks a TFTP packet that is not a read request this
// server serves.
var ErrTFTPRequest = errors.New("bad TFTP request")

// maxTFTPRequest bounds a request packet (RFC 1350 requests fit in 512
// bytes; options add little).
const maxTFTPRequest = 1024

// ParseReadRequest decodes a TFTP request packet. Write requests, other
// opcodes, modes other than octet, names or options that are not
// NUL-terminated text are errors wrapping ErrTFTPRequest; unknown options
// are ignored (RFC 2347) and option values out of range are clamped or
// dropped. It never panics.
func ParseReadRequest(b []byte) (ReadRequest, error) {
	if len(b) > maxTFTPRequest {
		return ReadRequest{}, fmt.Errorf("%d-byte request, more than a TFTP request holds: %w", len(b), ErrTFTPRequest)
	}
	if len(b) < 2 {
		return ReadRequest{}, fmt.Errorf("%d-byte packet: %w", len(b), ErrTFTPRequest)
	}
	switch op := binary.BigEndian.Uint16(b); op {
	case tftpRRQ:
	case tftpWRQ:
		return ReadRequest{}, fmt.Errorf("a write request; this server is read-only: %w", ErrTFTPRequest)
	default:
		return ReadRequest{}, fmt.Errorf("opcode %d where a read request was expected: %w", op, ErrTFTPRequest)
	}
	fields := bytes.Split(b[2:], []byte{0})
	if len(fields) < 3 || len(fields[len(fields)-1]) != 0 {
		return ReadRequest{}, fmt.Errorf("a request whose fields are not NUL-terminated: %w", ErrTFTPRequest)
	}
	fields = fields[:len(fields)-1]
	if len(fields)%2 != 0 {
		return ReadRequest{}, fmt.Errorf("an option without a value: %w", ErrTFTPRequest)
	}
	r := ReadRequest{Filename: string(fields[0]), Mode: strings.ToLower(string(fields[1]))}
	if r.Filename == "" {
		return ReadRequest{}, fmt.Errorf("a request without a file name: %w", ErrTFTPRequest)
	}
	if r.Mode != "octet" {
		return ReadRequest{}, fmt.Errorf("mode %s; only octet is served: %w", safeText(r.Mode), ErrTFTPRequest)
	}
	for i := 2; i+1 < len(fields); i += 2 {
		name, val := strings.ToLower(string(fields[i])), string(fields[i+1])
		n, err := strconv.Atoi(val)
		switch name {
		case "blksize": // RFC 2348: 8 to 65464
			if err == nil && n >= 8 {
				r.BlockSize = min(n, 1468) // one Ethernet frame, no IP fragments
			}
		case "tsize": // RFC 2349: the client sends 0 and wants the size back
			if err == nil && n == 0 {
				r.TSize = true
			}
		case "timeout": // RFC 2349: 1 to 255 seconds
			if err == nil && n >= 1 && n <= 255 {
				r.Timeout = time.Duration(n) * time.Second
			}
		}
	}
	return r, nil
}

// logName is a requested name for the log: a settings archive's one-time
// token is left out.
func logName(name string) string {
	if strings.HasPrefix(strings.TrimPrefix(name, "/"), settingsPrefix) {
		return "the settings archive"
	}
	return safeText(name)
}

// safeText trims text from the network for a log line.
func safeText(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(strings.ToValidUTF8(s, "?"))
}

// TFTPServer serves files of a Bundle over TFTP, read-only.
type TFTPServer struct {
	Bundle *Bundle
	// Dynamic, if set, makes files rather than reading them: ok says
	// name is one of its own (then err, if set, refuses it as not found).
	Dynamic func(name string, from net.IP) (b []byte, ok bool, err error)
	// Log receives one line per transfer and per refused request; never
	// nil once Serve runs (use a no-op func).
	Log func(format string, args ...any)
	// MaxTransfers bounds the transfers in flight; a request beyond it
	// gets an error packet ("busy") and is logged. 0 means 16.
	MaxTransfers int
	// Retries and Timeout bound how long a silent client holds a
	// transfer: Retries resends of a block, each after Timeout (or the
	// client's timeout option). 0 means 5 and 1 s.
	Retries int
	Timeout time.Duration

	mu   sync.Mutex
	made map[string]made // by client address and name
}

// Serve answers read requests arriving on conn (port 69) until ctx is
// done. Each transfer runs on a socket of its own (a new port, as RFC 1350
// has it), bound to conn's local address. Serve returns ctx's error, or the
// error that stopped reading conn.
func (s *TFTPServer) Serve(ctx context.Context, conn net.PacketConn) error {
	maxT := s.MaxTransfers
	if maxT <= 0 {
		maxT = 16
	}
	slots := make(chan struct{}, maxT)
	refused := newLogLimit(s.Log, time.Second, 5)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	local := conn.LocalAddr().(*net.UDPAddr)
	buf := make([]byte, maxTFTPRequest+1)
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("TFTP: reading requests: %w", err)
		}
		from, ok := peer.(*net.UDPAddr)
		if !ok {
			continue
		}
		req, err := ParseReadRequest(buf[:n])
		if err != nil {
			refused.logf("tftp: %s: refused: %v", from, err)
			sendTFTPError(conn, from, tftpErrIllegal, "bad request")
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			refused.logf("tftp: %s: %s refused: %d transfers already in flight", from, safeText(req.Filename), maxT)
			sendTFTPError(conn, from, tftpErrUndefined, "server busy, try again")
			continue
		}
		go func() {
			defer func() { <-slots }()
			s.transfer(ctx, local.IP, from, req)
		}()
	}
}

// sendTFTPError sends an ERROR packet; a failure to send is not worth more
// than the transfer it ends.
func sendTFTPError(c net.PacketConn, to net.Addr, code uint16, msg string) {
	p := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(p, tftpERROR)
	binary.BigEndian.PutUint16(p[2:], code)
	p = append(append(p, msg...), 0)
	_, _ = c.WriteTo(p, to)
}

// transfer sends one file to one client from a socket of its own.
func (s *TFTPServer) transfer(ctx context.Context, ip net.IP, to *net.UDPAddr, req ReadRequest) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		s.Log("tftp: %s: %s: no socket for the transfer: %v", to, safeText(req.Filename), err)
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	var r io.ReaderAt
	var size int64
	if b, ok, err := s.dynamic(req.Filename, to.IP); ok {
		if err != nil {
			sendTFTPError(c, to, tftpErrNotFound, "file not found")
			return
		}
		r, size = bytes.NewReader(b), int64(len(b))
	} else {
		f, fi, err := s.Bundle.Open(req.Filename)
		if err != nil {
			s.refuse(c, to, req.Filename, err)
			return
		}
		defer f.Close()
		r, size = f, fi.Size()
	}
	s.send(ctx, c, to, req, r, size)
}

// dynamic returns a made file. The same client asking for the same name
// again within a minute gets the same bytes: UEFI firmware asks for a
// file's size first and for the file next, and a settings archive is
// given once.
func (s *TFTPServer) dynamic(name string, from net.IP) ([]byte, bool, error) {
	if s.Dynamic == nil {
		return nil, false, nil
	}
	key := from.String() + " " + name
	now := time.Now()
	s.mu.Lock()
	if d, ok := s.made[key]; ok && now.Before(d.expires) {
		s.mu.Unlock()
		return d.b, true, nil
	}
	s.mu.Unlock()
	b, ok, err := s.Dynamic(name, from)
	if !ok || err != nil {
		return b, ok, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.made == nil {
		s.made = map[string]made{}
	}
	for k, d := range s.made {
		if now.After(d.expires) || len(s.made) >= maxMade {
			delete(s.made, k)
		}
	}
	s.made[key] = made{b: b, expires: now.Add(time.Minute)}
	return b, true, nil
}

// maxMade bounds the made files kept for a repeated request.
const maxMade = 64

type made struct {
	b       []byte
	expires time.Time
}

// refuse answers a request for a bundle file that cannot be given.
func (s *TFTPServer) refuse(c *net.UDPConn, to *net.UDPAddr, name string, err error) {
	code, msg := uint16(tftpErrNotFound), "file not found"
	if errors.Is(err, ErrRefused) {
		code, msg = tftpErrAccess, "access violation"
	} else if !errors.Is(err, fs.ErrNotExist) {
		code, msg = tftpErrUndefined, "cannot read the file"
	}
	if code == tftpErrNotFound {
		// iPXE asks for autoexec.ipxe first: not worth alarm.
		s.Log("tftp: %s: %s is not in the bundle", to, safeText(name))
	} else {
		s.Log("tftp: %s: %s refused: %v", to, safeText(name), err)
	}
	sendTFTPError(c, to, code, msg)
}

// send sends r (size bytes) to the client.
func (s *TFTPServer) send(ctx context.Context, c *net.UDPConn, to *net.UDPAddr, req ReadRequest, r io.ReaderAt, size int64) {
	t := tftpTransfer{c: c, to: to, retries: s.Retries, timeout: s.Timeout, block: 512}
	if t.retries <= 0 {
		t.retries = 5
	}
	if t.timeout <= 0 {
		t.timeout = time.Second
	}
	if req.Timeout > 0 {
		t.timeout = req.Timeout
	}
	start := time.Now()
	if err := t.run(r, size, req); err != nil {
		if errors.Is(err, errTFTPOptionsOnly) {
			// UEFI firmware asks for the size, ends the transfer, and
			// asks again for the file.
			s.Log("tftp: %s: %s: size asked (%d bytes)", to, safeText(req.Filename), size)
			return
		}
		if ctx.Err() == nil {
			s.Log("tftp: %s: %s: transfer stopped: %v", to, safeText(req.Filename), err)
		}
		return
	}
	s.Log("tftp: %s: sent %s (%d bytes) in %v", to, logName(req.Filename), size, time.Since(start).Round(time.Millisecond))
}

type tftpTransfer struct {
	c       *net.UDPConn
	to      *net.UDPAddr
	retries int
	timeout time.Duration
	block   int
}

// errTFTPPeer marks a transfer the client ended or abandoned.
var errTFTPPeer = errors.New("client")

// errTFTPOptionsOnly marks a transfer the client ended after the option
// acknowledgement, as UEFI firmware does to learn a file's size.
var errTFTPOptionsOnly = errors.New("client took the options only")

// errTFTPPeerError marks an error packet from the client.
var errTFTPPeerError = fmt.Errorf("%w sent error", errTFTPPeer)

func (t *tftpTransfer) run(r io.ReaderAt, size int64, req ReadRequest) error {
	var opts []byte
	if req.BlockSize > 0 {
		t.block = req.BlockSize
		opts = append(opts, "blksize\x00"+strconv.Itoa(t.block)+"\x00"...)
	}
	if req.TSize {
		opts = append(opts, "tsize\x00"+strconv.FormatInt(size, 10)+"\x00"...)
	}
	if req.Timeout > 0 {
		opts = append(opts, "timeout\x00"+strconv.Itoa(int(req.Timeout/time.Second))+"\x00"...)
	}
	if len(opts) > 0 {
		p := binary.BigEndian.AppendUint16(nil, tftpOACK)
		if err := t.send(append(p, opts...), 0); err != nil {
			if errors.Is(err, errTFTPPeerError) {
				return errTFTPOptionsOnly
			}
			return err
		}
	}
	pkt := make([]byte, 4+t.block)
	for n := int64(0); ; n++ {
		off := n * int64(t.block)
		m, err := r.ReadAt(pkt[4:], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading at %d: %w", off, err)
		}
		num := uint16(n + 1) // block numbers wrap around past 65535
		binary.BigEndian.PutUint16(pkt, tftpDATA)
		binary.BigEndian.PutUint16(pkt[2:], num)
		if err := t.send(pkt[:4+m], num); err != nil {
			return err
		}
		if m < t.block {
			return nil
		}
	}
}

// send sends p and waits for the ACK of block num, resending p after each
// timeout up to the retry limit. Duplicate ACKs of earlier blocks are
// ignored (RFC 1350's "sorcerer's apprentice" fix); packets from another
// address get an error packet and are otherwise ignored.
func (t *tftpTransfer) send(p []byte, num uint16) error {
	ack := make([]byte, 516)
	for try := 0; try <= t.retries; try++ {
		if _, err := t.c.WriteToUDP(p, t.to); err != nil {
			return err
		}
		deadline := time.Now().Add(t.timeout)
		for {
			if err := t.c.SetReadDeadline(deadline); err != nil {
				return err
			}
			n, from, err := t.c.ReadFromUDP(ack)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend
				}
				return err
			}
			if !from.IP.Equal(t.to.IP) || from.Port != t.to.Port {
				sendTFTPError(t.c, from, 5, "unknown transfer ID")
				continue
			}
			if n < 4 {
				continue
			}
			switch binary.BigEndian.Uint16(ack) {
			case tftpACK:
				if binary.BigEndian.Uint16(ack[2:]) == num {
					return nil
				}
			case tftpERROR:
				// A client that does not want the options (or the
				// file size it asked for) ends the transfer this way.
				return fmt.Errorf("%w %d", errTFTPPeerError, binary.BigEndian.Uint16(ack[2:]))
			}
		}
	}
	return fmt.Errorf("%w did not acknowledge block %d after %d tries", errTFTPPeer, num, t.retries+1)
}
