// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Command codec measures chunk codecs on real data for issue 14: how small
// each makes 32 KiB chunks of files (as format 2 stores them: compressed,
// or raw where compression does not shrink a chunk), how fast one core
// compresses and decodes them, and what that means for moving used data
// over a gigabit link (~117 MB/s of payload) with two cores decoding.
//
//	go run . [-mb 1024] [-chunk 32768] DIR...
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

type codec struct {
	name   string
	encode func(dst, src []byte) []byte // nil result: stored raw
	decode func(dst, src []byte) ([]byte, error)
}

func main() {
	mb := flag.Int("mb", 1024, "MiB of file data to read")
	cs := flag.Int("chunk", 32<<10, "chunk size in bytes")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: codec [-mb N] [-chunk BYTES] DIR...")
		os.Exit(2)
	}
	data := readTree(flag.Args(), *mb<<20)
	var chunks [][]byte
	for off := 0; off+*cs <= len(data); off += *cs {
		chunks = append(chunks, data[off:off+*cs])
	}
	fmt.Printf("%d MiB of files from %v in %d chunks of %d KiB; GOMAXPROCS %d, %s\n",
		len(data)>>20, flag.Args(), len(chunks), *cs>>10, runtime.GOMAXPROCS(0), runtime.Version())

	var lc lz4.Compressor
	codecs := []codec{{
		name: "lz4 (format 2 today)",
		encode: func(dst, src []byte) []byte {
			dst = dst[:lz4.CompressBlockBound(len(src))]
			n, err := lc.CompressBlock(src, dst)
			if err != nil || n == 0 || n >= len(src) {
				return nil
			}
			return dst[:n]
		},
		decode: func(dst, src []byte) ([]byte, error) {
			n, err := lz4.UncompressBlock(src, dst[:cap(dst)])
			return dst[:n], err
		},
	}}
	// lz4's high-compression levels: the same block format, so the same
	// decoder and codec; only capture pays.
	for _, lvl := range []lz4.CompressionLevel{lz4.Level1, lz4.Level4, lz4.Level9} {
		codecs = append(codecs, codec{
			name: "lz4 HC " + lvl.String(),
			encode: func(dst, src []byte) []byte {
				dst = dst[:lz4.CompressBlockBound(len(src))]
				n, err := lz4.CompressBlockHC(src, dst, lvl, nil, nil)
				if err != nil || n == 0 || n >= len(src) {
					return nil
				}
				return dst[:n]
			},
			decode: codecs[0].decode,
		})
	}
	for _, lvl := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
		dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		codecs = append(codecs, codec{
			name: "zstd " + lvl.String(),
			encode: func(dst, src []byte) []byte {
				out := enc.EncodeAll(src, dst[:0])
				if len(out) >= len(src) {
					return nil
				}
				return out
			},
			decode: func(dst, src []byte) ([]byte, error) { return dec.DecodeAll(src, dst[:0]) },
		})
	}

	fmt.Printf("\n| codec | stored ÷ plaintext | compress, 1 core | decode, 1 core | used data over GbE (117 MB/s), 2 cores decoding |\n| --- | --- | --- | --- | --- |\n")
	for _, c := range codecs {
		enc := make([][]byte, len(chunks))
		buf := make([]byte, 2**cs+1024)
		start := time.Now()
		var stored int64
		for i, ch := range chunks {
			if out := c.encode(buf, ch); out != nil {
				enc[i] = append([]byte(nil), out...)
				stored += int64(len(out))
			} else {
				stored += int64(len(ch))
			}
		}
		compress := time.Since(start)
		dst := make([]byte, *cs)
		// Decode the whole set at least 3 times and for at least 2 s.
		var decoded int64
		start = time.Now()
		for rounds := 0; rounds < 3 || time.Since(start) < 2*time.Second; rounds++ {
			for i, e := range enc {
				if e == nil {
					decoded += int64(len(chunks[i]))
					continue
				}
				out, err := c.decode(dst, e)
				if err != nil || !bytes.Equal(out, chunks[i]) {
					fmt.Fprintf(os.Stderr, "%s: chunk %d does not decode to itself (%v)\n", c.name, i, err)
					os.Exit(1)
				}
				decoded += int64(len(out))
			}
		}
		decodeRate := float64(decoded) / time.Since(start).Seconds() / 1e6
		ratio := float64(stored) / float64(len(chunks)**cs)
		link := min(117/ratio, 2*decodeRate)
		fmt.Printf("| %s | %.3f | %.0f MB/s | %.0f MB/s | %.0f MB/s |\n", c.name, ratio,
			float64(len(chunks)**cs)/compress.Seconds()/1e6, decodeRate, link)
	}
}

// readTree reads regular files under dirs, in walk order, up to max bytes.
func readTree(dirs []string, max int) []byte {
	data := make([]byte, 0, max)
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() || len(data) >= max {
				if len(data) >= max {
					return filepath.SkipAll
				}
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil {
				data = append(data, b[:min(len(b), max-len(data))]...)
			}
			return nil
		})
	}
	return data
}
