// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package smb

import (
	"encoding/binary"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// frame is one direct-TCP SMB message: a 4-byte header (zero, then a 24-bit
// length) and the message.
func frame(msg ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	return append(b, msg...)
}

// countFrames is an independent reading of a direct-TCP stream: how many
// messages start with a transform header (0xFD) and how many do not, among
// those whose first byte has arrived.
func countFrames(b []byte) (plain, encrypted int64) {
	for len(b) >= 4 {
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		b = b[4:]
		if n > 0 && len(b) > 0 {
			if b[0] == 0xFD {
				encrypted++
			} else {
				plain++
			}
		}
		b = b[min(n, len(b)):]
	}
	return plain, encrypted
}

// FuzzWatchFeed: the counts --require-encryption trusts do not depend on
// how the stream is cut into reads, and match an independent reading of it.
func FuzzWatchFeed(f *testing.F) {
	smb2 := []byte{0xFE, 'S', 'M', 'B', 64, 0, 0, 0}
	transform := []byte{0xFD, 'S', 'M', 'B', 1, 2, 3, 4, 5, 6, 7, 8}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	testutil.Seed(f, frame(smb2...), []byte{1})
	testutil.Seed(f, frame(transform...), []byte{3, 1, 7})
	testutil.Seed(f, cat(frame(smb2...), frame(transform...), frame(transform...)), []byte{2, 5})
	testutil.Seed(f, cat(frame(), frame(transform...), frame(), frame(smb2...)), []byte{4})
	testutil.Seed(f, cat(frame(transform...), frame(smb2...))[:13], []byte{}) // a message cut short
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		whole := &watch{}
		whole.feed(data)
		split := &watch{}
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(cuts) > 0 {
				n = min(n, int(cuts[i%len(cuts)])+1)
			}
			split.feed(rest[:n])
			rest = rest[n:]
		}
		p, e := countFrames(data)
		for _, w := range []*watch{whole, split} {
			if w.plain.Load() != p || w.encrypted.Load() != e {
				t.Fatalf("feed in reads %v: %d plain, %d encrypted; want %d, %d", cuts, w.plain.Load(), w.encrypted.Load(), p, e)
			}
		}
		if whole.hn != split.hn || whole.remain != split.remain || whole.first != split.first {
			t.Fatalf("feed in reads %v leaves state %d/%d/%v, in one read %d/%d/%v", cuts, split.hn, split.remain, split.first, whole.hn, whole.remain, whole.first)
		}
	})
}
