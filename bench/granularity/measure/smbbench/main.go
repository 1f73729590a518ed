// Command smbbench reads one file from an SMB share with ReadAt in requests of
// several sizes, N requests in flight spread over C connections, the way
// rewind's SMB store connects (github.com/cloudsoda/go-smb2, NTLM).
//
//	smbbench -addr 127.0.0.1:PORT -user U -pass P -share S -file F
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudsoda/go-smb2"
)

func dial(addr, user, pass, share string) (*smb2.Share, func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nd := net.Dialer{KeepAlive: 30 * time.Second}
	tcp, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: user, Password: pass}}
	sess, err := d.DialConn(ctx, tcp, addr)
	if err != nil {
		log.Fatal(err)
	}
	sh, err := sess.Mount(share)
	if err != nil {
		log.Fatal(err)
	}
	return sh, func() { sh.Umount(); sess.Logoff(); tcp.Close() }
}

// proxy listens on 127.0.0.1 and forwards to addr, delaying every segment
// by d in each direction (added latency, throughput kept), to mimic a LAN.
func proxy(addr string, d time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	pipe := func(dst, src net.Conn) {
		type seg struct {
			due time.Time
			b   []byte
		}
		ch := make(chan seg, 4096)
		go func() {
			for s := range ch {
				time.Sleep(time.Until(s.due))
				if _, err := dst.Write(s.b); err != nil {
					break
				}
			}
			dst.Close()
		}()
		for {
			b := make([]byte, 256<<10)
			n, err := src.Read(b)
			if n > 0 {
				ch <- seg{time.Now().Add(d), b[:n]}
			}
			if err != nil {
				close(ch)
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				log.Fatal(err)
			}
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return ln.Addr().String()
}

func main() {
	addr := flag.String("addr", "", "host:port")
	user := flag.String("user", "", "")
	pass := flag.String("pass", "", "")
	share := flag.String("share", "rewind", "")
	file := flag.String("file", "big", "")
	reps := flag.Int("reps", 3, "repetitions per setting (median reported)")
	delay := flag.Duration("delay", 0, "added one-way latency (through a proxy on 127.0.0.1)")
	flight := flag.Int("inflight", 8, "requests in flight")
	flag.Parse()
	if *delay > 0 {
		*addr = proxy(*addr, *delay)
	}
	fmt.Printf("one-way added latency %v\n\n", *delay)
	fmt.Printf("| request | conns | in flight | MB/s (median of %d) | all runs |\n|---|---|---|---|---|\n", *reps)
	for _, conns := range []int{1, 4} {
		var files []*smb2.File
		var closers []func()
		for i := 0; i < conns; i++ {
			sh, cl := dial(*addr, *user, *pass, *share)
			f, err := sh.Open(*file)
			if err != nil {
				log.Fatal(err)
			}
			files = append(files, f)
			closers = append(closers, func() { f.Close(); cl() })
		}
		st, _ := files[0].Stat()
		size := st.Size()
		for _, req := range []int64{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			inflight := *flight
			var runs []float64
			for r := 0; r < *reps; r++ {
				var next atomic.Int64
				var wg sync.WaitGroup
				var total atomic.Int64
				t0 := time.Now()
				for w := 0; w < inflight; w++ {
					wg.Add(1)
					go func(f *smb2.File) {
						defer wg.Done()
						buf := make([]byte, req)
						for {
							off := next.Add(req) - req
							if off >= size {
								return
							}
							n, err := f.ReadAt(buf, off)
							if err != nil && n == 0 {
								log.Fatal(err)
							}
							total.Add(int64(n))
						}
					}(files[w%conns])
				}
				wg.Wait()
				el := time.Since(t0).Seconds()
				if total.Load() != size {
					log.Fatalf("read %d of %d", total.Load(), size)
				}
				runs = append(runs, float64(size)/1e6/el)
			}
			s := append([]float64(nil), runs...)
			sort.Float64s(s)
			fmt.Printf("| %d KiB | %d | %d | %.0f | %.0f |\n", req>>10, conns, inflight, s[len(s)/2], runs)
		}
		for _, c := range closers {
			c()
		}
	}
}
