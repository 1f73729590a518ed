// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package smb

import (
	"errors"
	"fmt"
	"net/url"
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
		{"smb://tech%3Ahunter2@nas/backup", "holds a password"},
		{"smb://tech%3ahunter2@nas/backup", "holds a password"},
		{"smb://OFFICE;tech%3Ahunter2@nas/backup", "holds a password"},
		{"smb://OFFICE%3Btech%3Ahunter2@nas/backup", "holds a password"},
		{"smb://%74ech%3Ahunter2@nas/backup", "holds a password"},
		{"smb://tech%253Ahunter2@nas/backup", "percent-encoded twice"},
		{"smb://tech%25253ahunter2@nas/backup", "percent-encoded twice"},
		{"smb://tech%253Ahunter2:x@nas/backup", "holds a password"},
		{"http://tech%3Ahunter2@nas/backup", `scheme "http" is not smb`},
		{"smb://tech%3Ahunter2@nas:99999/s", "holds a password"},
		{"smb:tech:hunter2@nas/backup", "needs //"},
		{"smb://nas/backup?password=hunter2", "query"},
		{"smb://nas/backup#hunter2", "fragment"},
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

// TestURLErrorsKeepUserName: errors name the user, nothing more of the
// user part.
func TestURLErrorsKeepUserName(t *testing.T) {
	for _, in := range []string{"smb://tech%3Ahunter2@nas/backup", "smb://OFFICE;tech:hunter2@nas:0/s"} {
		_, err := ParseURL(in)
		if err == nil || !strings.Contains(err.Error(), "tech@") {
			t.Errorf("ParseURL(%q) = %v, want the user name tech in it", in, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/mnt/usb/rewind", "/mnt/usb/rewind"},
		{"smb://tech@nas/backup", "smb://tech@nas/backup"},
		{"smb://tech:hunter2@nas/backup", "smb://tech@nas/backup"},
		{"smb://tech%3Ahunter2@nas:1445/backup/x", "smb://tech@nas:1445/backup/x"},
		{"smb://OFFICE;tech%3ahunter2@nas/backup", "smb://OFFICE;tech@nas/backup"},
		{"smb://tech%253Ahunter2@nas/backup", "smb://nas/backup"},
		{"smb://nas/backup?pw=hunter2#hunter2", "smb://nas/backup"},
		{"smb://tech:hunter2@nas:bad port/backup", "smb://(a URL that is not valid)"},
		{"1x;pw://nas", "?://(a URL that is not valid)"},
		{"tech:hunter2@x://nas", "tech://(a URL without a host)"}, // an opaque URL: nothing after the scheme
		{"smb:/root:hunter2@nas/share", "smb://(a URL without a host)"},
		{"smb:///root:hunter2@nas/share", "smb://(a URL without a host)"},
		{"smb:root:hunter2@nas/share", "smb://(a URL without a host)"},
		{"u;p:hunter2@nas/share", "?://(a URL that is not valid)"},
		{`C:\rewind`, `C:\rewind`},
		{"/mnt/usb/a:b", "/mnt/usb/a:b"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smb://nas/backup", "smb://a;b@c:1/d/e", "smb://x:y@z/w", "smb://[::1]:445/s/p",
		"smb://root%3Apw@h/s", "smb://root%253Apw@h/s", "smb://a%3Bb@h/s"} {
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
		// What is accepted holds no password in any form, so that printing
		// it (String, every error that names the share) prints none.
		if strings.Contains(c.User, ":") || strings.Contains(c.Domain, ":") || hasEscape(c.User) || hasEscape(c.Domain) {
			t.Fatalf("ParseURL(%q) accepted user %q domain %q, which may hide a password", s, c.User, c.Domain)
		}
		again, err := ParseURL(c.String())
		if err != nil || !cmp.Equal(again, c) {
			t.Fatalf("ParseURL(%q).String() = %q, which parses to %+v, %v; want %+v", s, c.String(), again, err, c)
		}
	})
}

// FuzzParseURLPassword hides a password in a URL's user part in the ways a
// URL allows (a ':' plain, %3A or %3a, the whole part percent-encoded once
// or twice, behind a domain) and checks that ParseURL refuses it without
// repeating it.
func FuzzParseURLPassword(f *testing.F) {
	for how := range uint8(12) {
		f.Add("root", "hunter2", how)
	}
	f.Add("OFFICE;tech", "p@ss:w/rd%41", uint8(3))
	f.Fuzz(func(t *testing.T, user, secret string, how uint8) {
		pw := "Pw-" + secret
		if strings.Contains(user, "Pw-") {
			return // the user name is printed, so it must not be the password
		}
		hex := "%%%02X"
		if how&8 != 0 {
			hex = "%%%02x"
		}
		enc := func(s string) string {
			var b strings.Builder
			for i := 0; i < len(s); i++ {
				fmt.Fprintf(&b, hex, s[i])
			}
			return b.String()
		}
		var userinfo string
		switch how % 6 {
		case 0:
			userinfo = url.UserPassword(user, pw).String()
		case 1:
			userinfo = enc(user) + "%3A" + enc(pw)
		case 2:
			userinfo = enc(user) + "%3a" + enc(pw)
		case 3:
			userinfo = enc(enc(user + ":" + pw))
		case 4:
			userinfo = "OFFICE;" + enc(user) + enc(":") + enc(pw)
		case 5:
			userinfo = enc(user + ":" + pw)
		}
		in := "smb://" + userinfo + "@nas:1445/share/folder"
		c, err := ParseURL(in)
		if err == nil {
			t.Fatalf("ParseURL(%q) = %+v, accepted a URL holding a password", in, c)
		}
		for _, leak := range []string{pw, enc(pw), url.PathEscape(pw)} {
			if strings.Contains(err.Error(), leak) {
				t.Fatalf("ParseURL(%q) = %q, repeats the password", in, err)
			}
		}
	})
}
