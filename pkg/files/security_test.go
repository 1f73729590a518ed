// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// SIDs as Windows stores them.
var (
	sidSystem = []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}                // S-1-5-18
	sidAdmins = []byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0} // S-1-5-32-544
	sidUsers  = []byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x21, 2, 0, 0} // S-1-5-32-545
)

// testACL returns an ACL of one access-allowed ACE per SID, each with
// mask.
func testACL(mask uint32, sids ...[]byte) []byte {
	var aces []byte
	for _, s := range sids {
		aces = append(aces, 0, 0)
		aces = binary.LittleEndian.AppendUint16(aces, uint16(8+len(s)))
		aces = binary.LittleEndian.AppendUint32(aces, mask)
		aces = append(aces, s...)
	}
	acl := []byte{2, 0}
	acl = binary.LittleEndian.AppendUint16(acl, uint16(8+len(aces)))
	acl = binary.LittleEndian.AppendUint16(acl, uint16(len(sids)))
	return append(append(acl, 0, 0), aces...)
}

// testSD returns a self-relative security descriptor of the parts, laid
// out in the order given ("ogsd": owner, group, SACL, DACL).
func testSD(control uint16, order string, owner, group, sacl, dacl []byte) []byte {
	b := make([]byte, 20)
	b[0] = 1
	binary.LittleEndian.PutUint16(b[2:], control|0x8000)
	for _, c := range order {
		at, part := map[rune]int{'o': 4, 'g': 8, 's': 12, 'd': 16}[c], map[rune][]byte{'o': owner, 'g': group, 's': sacl, 'd': dacl}[c]
		if part == nil {
			continue
		}
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)))
		b = append(b, part...)
	}
	return b
}

func TestSameSecurity(t *testing.T) {
	dacl := testACL(0x1f01ff, sidSystem, sidAdmins)
	sacl := testACL(0x10000, sidUsers)
	base := testSD(sdDACLPresent|sdDACLProtected, "ogsd", sidAdmins, sidSystem, nil, dacl)
	withSACL := testSD(sdDACLPresent|sdDACLProtected|sdSACLPresent, "ogsd", sidAdmins, sidSystem, sacl, dacl)
	for _, tc := range []struct {
		name string
		a, b []byte
		sacl bool
		want bool
	}{
		{"itself", base, base, false, true},
		{"laid out otherwise", base, testSD(sdDACLPresent|sdDACLProtected, "dsgo", sidAdmins, sidSystem, nil, dacl), false, true},
		{"not self-relative-flagged, defaulted", base, testSD(sdDACLPresent|sdDACLProtected|0x0001, "ogsd", sidAdmins, sidSystem, nil, dacl), false, true},
		{"another owner", base, testSD(sdDACLPresent|sdDACLProtected, "ogsd", sidUsers, sidSystem, nil, dacl), false, false},
		{"another group", base, testSD(sdDACLPresent|sdDACLProtected, "ogsd", sidAdmins, sidUsers, nil, dacl), false, false},
		{"another DACL", base, testSD(sdDACLPresent|sdDACLProtected, "ogsd", sidAdmins, sidSystem, nil, testACL(0x1f01ff, sidSystem)), false, false},
		{"DACL not protected", base, testSD(sdDACLPresent, "ogsd", sidAdmins, sidSystem, nil, dacl), false, false},
		{"a SACL, not compared", base, withSACL, false, true},
		{"a SACL, compared", base, withSACL, true, false},
		{"SACLs the same", withSACL, withSACL, true, true},
		{"not a descriptor", base, []byte("not a security descriptor"), false, false},
		{"empty", nil, nil, false, false},
	} {
		if got := sameSecurity(tc.a, tc.b, tc.sacl); got != tc.want {
			t.Errorf("%s: sameSecurity(%x, %x, %v) = %v, want %v", tc.name, tc.a, tc.b, tc.sacl, got, tc.want)
		}
	}
	if hasSACL(base) || !hasSACL(withSACL) {
		t.Errorf("hasSACL = %v, %v; want false, true", hasSACL(base), hasSACL(withSACL))
	}
}

func TestParseSDRefuses(t *testing.T) {
	good := testSD(sdDACLPresent, "ogd", sidAdmins, sidSystem, nil, testACL(0x1f01ff, sidSystem))
	for name, b := range map[string][]byte{
		"short":            good[:19],
		"revision 2":       append([]byte{2}, good[1:]...),
		"owner past end":   good[:len(good)-len(sidSystem)-30],
		"offset in header": func() []byte { b := bytes.Clone(good); b[4] = 8; return b }(),
		"ACL longer":       func() []byte { b := bytes.Clone(good); b[len(b)-len(testACL(0, sidSystem))+2] = 0xff; return b }(),
	} {
		if _, err := parseSD(b); err == nil {
			t.Errorf("parseSD(%s: %x) = nil error, want one", name, b)
		}
	}
}

// FuzzParseSD: what parses has its parts inside the descriptor, and is the
// same as itself.
func FuzzParseSD(f *testing.F) {
	f.Add(testSD(sdDACLPresent|sdSACLPresent, "ogsd", sidAdmins, sidSystem, testACL(0x10000, sidUsers), testACL(0x1f01ff, sidSystem)))
	f.Add(testSD(0, "", nil, nil, nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseSD(b)
		if err != nil {
			return
		}
		for _, part := range [][]byte{p.owner, p.group, p.sacl, p.dacl} {
			if len(part) > 0 && !bytes.Contains(b, part) {
				t.Fatalf("parseSD(%x): a part %x is not in it", b, part)
			}
		}
		if !sameSecurity(b, b, true) {
			t.Fatalf("sameSecurity(%x, itself) = false", b)
		}
	})
}
