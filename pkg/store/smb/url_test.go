// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package smb

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rewind-backup/rewind/pkg/store"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Config
	}{
		{"smb://nas/backup", Config{Host: "nas", Port: 445, Share: "backup"}},
		{"smb://tech@nas.local:1445/backup/shop/rewind", Config{Host: "nas.local", Port: 1445, Share: "backup", Path: "shop/rewind", User: "tech"}},
		{"smb://OFFICE;tech@192.168.1.5/b/", Config{Host: "192.168.1.5", Port: 445, Share: "b", User: "tech", Domain: "OFFICE"}},
		{"smb://u@[::1]:4450/s", Config{Host: "::1", Port: 4450, Share: "s", User: "u"}},
	} {
		got, err := ParseURL(tc.in)
		if err != nil {
			t.Errorf("ParseURL(%q) = %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseURL(%q) mismatch (-want +got):\n%s", tc.in, diff)
		}
		// String gives back an equivalent URL.
		again, err := ParseURL(got.String())
		if err != nil || !cmp.Equal(again, got) {
			t.Errorf("ParseURL(%q).String() = %q, which parses to %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func TestParseURLRejects(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"smb://tech:hunter2@nas/backup", "holds a password"},
		{"http://nas/backup", `scheme "http" is not smb`},
		{"nas/backup", "is not smb"},
		{"smb://nas", "names no share"},
		{"smb://nas/", "names no share"},
		{"smb:///share", "names no host"},
		{"smb://nas:99999/s", "port"},
		{"smb://nas/s/bad dir", "invalid character"},
	} {
		_, err := ParseURL(tc.in)
		if err == nil {
			t.Errorf("ParseURL(%q) = nil error, want %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) = %q, want %q in it", tc.in, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) = %q, repeats the password", tc.in, err)
		}
		if !errors.Is(err, store.ErrPermanent) {
			t.Errorf("ParseURL(%q) error is not permanent", tc.in)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smb://nas/backup", "smb://a;b@c:1/d/e", "smb://x:y@z/w", "smb://[::1]:445/s/p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseURL(s)
		if err != nil {
			return
		}
		if c.Host == "" || c.Share == "" || c.Port < 1 || c.Port > 65535 {
			t.Fatalf("ParseURL(%q) = %+v, accepted without host, share or port", s, c)
		}
		if c.Password != "" {
			t.Fatalf("ParseURL(%q) filled a password", s)
		}
	})
}
