// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/rewind-backup/rewind/pkg/internal/testutil"
)

// FuzzParseReport: a stored report (anything on the NAS) parses without
// panic, and what parses re-encodes to bytes that parse and re-encode to
// the same bytes again (durations are kept to the millisecond, so the
// first encoding may round them).
func FuzzParseReport(f *testing.F) {
	testutil.Seed(f, []byte(`{
  "version": 1,
  "task": "capture",
  "machine": "ws1",
  "host": "rewind-boot",
  "time": "2026-03-01T02:00:00Z",
  "duration": 754.213,
  "ok": true,
  "image": "3f2a9c01",
  "targets": ["/dev/sda"],
  "result": {"read_bytes": 123456789, "stored_bytes": 4567, "verified": true}
}
`))
	testutil.Seed(f, []byte(`{"version":1,"task":"restore","machine":"m","time":"2026-03-01T02:00:00+01:00","duration":0.0004,"ok":false,"error":"the NAS went away"}`))
	testutil.Seed(f, []byte(`{"result": [1, 2 ,3], "duration": 1e3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r1, err := parseReport(data)
		if err != nil {
			return
		}
		b1, err := json.Marshal(r1)
		if err != nil {
			t.Fatalf("parseReport(%q) = %+v, which does not encode: %v", data, r1, err)
		}
		r2, err := parseReport(b1)
		if err != nil {
			t.Fatalf("parseReport(%q) (its own encoding) = %v", b1, err)
		}
		b2, err := json.Marshal(r2)
		if err != nil {
			t.Fatalf("parseReport(%q) = %+v, which does not encode: %v", b1, r2, err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("report re-encodes as\n%s\nthen\n%s", b1, b2)
		}
	})
}
