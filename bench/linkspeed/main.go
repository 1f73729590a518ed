// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Command linkspeed measures the TCP payload a link carries, one stream,
// in either direction: the ceiling that scripts/bench-images holds the
// restores and captures over its emulated gigabit link against.
//
//	linkspeed serve ADDR COUNT    answer COUNT connections, then exit
//	linkspeed get ADDR MIB        receive MIB MiB from the server
//	linkspeed put ADDR MIB        send MIB MiB to the server
//
// get and put print "BYTES SECONDS MB/s" (MB = 10^6 bytes), timed from the
// connection's request to its last byte (put: to the server's
// acknowledgement that it read them all). The bytes are zeros: nothing on
// the path compresses.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "linkspeed: %v\n", err)
		os.Exit(1)
	}
}

// limit bounds every connection and the server's wait: the bench never hangs.
const limit = 2 * time.Minute

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("linkspeed", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return errors.New("usage: linkspeed serve ADDR COUNT | get ADDR MIB | put ADDR MIB")
	}
	verb, addr := fs.Arg(0), fs.Arg(1)
	n, err := strconv.ParseInt(fs.Arg(2), 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive count", fs.Arg(2))
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	switch verb {
	case "serve":
		return serve(ctx, addr, int(n))
	case "get", "put":
		return transfer(ctx, verb, addr, n<<20, stdout)
	}
	return fmt.Errorf("unknown verb %q", verb)
}

// serve answers count connections on addr, one at a time.
func serve(ctx context.Context, addr string, count int) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer l.Close()
	go func() { <-ctx.Done(); l.Close() }()
	for range count {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		err = answer(c)
		c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// answer reads one request line, "get N" or "put N", and sends or reads N
// bytes; a put is acknowledged with one byte once all were read.
func answer(c net.Conn) error {
	c.SetDeadline(time.Now().Add(limit))
	r := bufio.NewReader(c)
	var verb string
	var n int64
	if _, err := fmt.Fscanf(r, "%s %d\n", &verb, &n); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	switch verb {
	case "get":
		_, err := io.CopyN(c, zeros{}, n)
		return err
	case "put":
		if _, err := io.CopyN(io.Discard, r, n); err != nil {
			return err
		}
		_, err := c.Write([]byte{1})
		return err
	}
	return fmt.Errorf("unknown request %q", verb)
}

// transfer makes one get or put of n bytes and prints what it measured.
func transfer(ctx context.Context, verb, addr string, n int64, stdout io.Writer) error {
	var d net.Dialer
	var c net.Conn
	var err error
	for try := 0; ; try++ { // the server may be starting
		if c, err = d.DialContext(ctx, "tcp", addr); err == nil || try == 50 || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	start := time.Now()
	if _, err := fmt.Fprintf(c, "%s %d\n", verb, n); err != nil {
		return err
	}
	switch verb {
	case "get":
		got, err := io.Copy(io.Discard, c)
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("received %d bytes, want %d", got, n)
		}
	case "put":
		if _, err := io.CopyN(c, zeros{}, n); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			return fmt.Errorf("waiting for the acknowledgement: %w", err)
		}
	}
	s := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "%d %.3f %.1f\n", n, s, float64(n)/s/1e6)
	return nil
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
