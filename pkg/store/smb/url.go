// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package smb

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/rewind-backup/rewind/pkg/store"
)

// Config says which share to use and how. The password is never part of a
// URL: it comes from a file or a prompt, through the caller.
type Config struct {
	Host   string // name or address of the NAS
	Port   int    // 445 unless given
	Share  string // share name
	Path   string // folder inside the share, slash-separated, may be empty
	User   string
	Domain string // workgroup or domain; empty for a NAS's local users

	Password string // never printed; see String

	// Conns is the number of SMB connections to keep open (default 2).
	// go-smb2 waits for each request's answer inside a call, so throughput
	// comes from several calls in flight over more than one connection.
	Conns int

	// RequireEncryption refuses shares whose traffic is not encrypted
	// (SMB 3 with encryption switched on at the server).
	RequireEncryption bool
}

// ParseURL reads smb://[domain;][user@]host[:port]/share[/path]. A password
// in the URL is refused: it would end up in shell history, process lists and
// logs. So is one hidden by percent-encoding (root%3Asecret), and a user
// name still percent-encoded after decoding (root%253Asecret), which could
// hide one too. Errors name the URL with nothing of its user part but the
// user name.
func ParseURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the URL, which may hold a password.
		return Config{}, store.Permanent(fmt.Errorf("repository URL is not valid; the form is smb://[user@]host[:port]/share[/path]"))
	}
	if u.Scheme != "smb" {
		return Config{}, store.Permanent(fmt.Errorf("repository URL %q: scheme %q is not smb; the form is smb://[user@]host[:port]/share[/path]", redact(u), u.Scheme))
	}
	if u.Opaque != "" {
		return Config{}, store.Permanent(fmt.Errorf("repository URL is not valid: it needs // after smb:; the form is smb://[user@]host[:port]/share[/path]"))
	}
	c := Config{Port: 445}
	if u.User != nil {
		name, hidden := userName(u.User)
		switch hidden {
		case userPassword:
			return Config{}, store.Permanent(fmt.Errorf("repository URL %q holds a password after the user name; remove it and use --password-file FILE or the prompt", redact(u)))
		case userEncoded:
			return Config{}, store.Permanent(fmt.Errorf("repository URL %q: its user name is percent-encoded twice, which can hide a password; write the user name plainly, and give the password with --password-file FILE or the prompt", redact(u)))
		}
		c.User = name
		if d, usr, ok := strings.Cut(c.User, ";"); ok {
			c.Domain, c.User = d, usr
		}
		if strings.Contains(c.User, ";") {
			return Config{}, store.Permanent(fmt.Errorf("repository URL %q: the user part has more than one ';'; the form is smb://[DOMAIN;]user@host/share", redact(u)))
		}
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return Config{}, store.Permanent(fmt.Errorf("repository URL %q has a ?query or #fragment, which rewind does not use; remove it", redact(u)))
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return Config{}, store.Permanent(fmt.Errorf("repository URL %q names no host", redact(u)))
	}
	if _, err := netip.ParseAddr(c.Host); strings.Contains(c.Host, ":") && err != nil {
		return Config{}, store.Permanent(fmt.Errorf("repository URL %q: host %q is neither a name nor an address; write an IPv6 address in brackets, smb://[fd00::5]/share", redact(u), c.Host))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, store.Permanent(fmt.Errorf("repository URL %q: port %q is not a number from 1 to 65535", redact(u), p))
		}
		c.Port = n
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if parts[0] == "" {
		return Config{}, store.Permanent(fmt.Errorf("repository URL %q names no share; the form is smb://[user@]host[:port]/share[/path]", redact(u)))
	}
	c.Share = parts[0]
	c.Path = strings.Join(parts[1:], "/")
	if c.Path != "" {
		if err := store.ValidName(c.Path); err != nil {
			return Config{}, store.Permanent(fmt.Errorf("repository URL %q: folder %q: %v", redact(u), c.Path, err))
		}
	}
	return c, nil
}

// What a URL's user part hides, as userName finds it.
const (
	userPlain    = iota // a user name only
	userPassword        // a password after a ':', plain or percent-encoded
	userEncoded         // percent-escapes left after decoding: maybe a password
)

// userName returns the user name of a URL's user part (decoded, without
// anything after a ':') and what else the part holds. url.Parse decodes the
// user part once, so root%3Asecret arrives as "root:secret".
func userName(ui *url.Userinfo) (string, int) {
	name := ui.Username()
	before, _, colon := strings.Cut(name, ":")
	_, has := ui.Password()
	switch {
	case has || colon:
		if hasEscape(before) {
			return "", userPassword
		}
		return before, userPassword
	case hasEscape(name):
		return "", userEncoded
	}
	return name, userPlain
}

// hasEscape reports whether s holds a percent-escape (%XX).
func hasEscape(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && isHex(s[i+1]) && isHex(s[i+2]) {
			return true
		}
	}
	return false
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// String returns the configuration as a URL, without the password, and
// with nothing of the user field past a ':' (a Config made by hand could
// hold one).
func (c Config) String() string {
	u := url.URL{Scheme: "smb", Host: c.Host, Path: "/" + c.Share}
	switch {
	case c.Port != 0 && c.Port != 445:
		u.Host = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	case strings.Contains(c.Host, ":"):
		u.Host = "[" + c.Host + "]" // an IPv6 address
	}
	if c.Path != "" {
		u.Path += "/" + c.Path
	}
	user := c.userName()
	if c.Domain != "" {
		user = c.Domain + ";" + user
	}
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}

// userName is c.User up to a ':', for messages.
func (c Config) userName() string {
	name, _, _ := strings.Cut(c.User, ":")
	return name
}

// Redact returns s, a repository URL or a folder, fit to print: of a URL's
// user part only the user name is kept (nothing after a ':', plain or
// percent-encoded), and its query and fragment are dropped. Of a URL that
// does not parse only the scheme is kept.
func Redact(s string) string {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || !isScheme(scheme) {
		// A folder (C:\ is a drive letter, not a scheme), unless it looks
		// like a user part with a password in a URL whose scheme is bad.
		if strings.Contains(s, "://") || strings.Contains(s, "@") && strings.ContainsAny(s, ":%") {
			return "?://(a URL that is not valid)"
		}
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return scheme + "://(a URL that is not valid)"
	}
	return redact(u)
}

// isScheme reports whether s can be a URL's scheme of two letters or more
// (RFC 3986: a letter, then letters, digits, '+', '-' and '.').
func isScheme(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i, c := range s {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// redact returns u for a message: the user name but nothing else of the user
// part, and no query or fragment.
func redact(u *url.URL) string {
	if u.Host == "" || u.Opaque != "" {
		// smb:/user:pw@nas/share and the like put the user part in the
		// path: keep none of it.
		return u.Scheme + "://(a URL without a host)"
	}
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		if name, _ := userName(u.User); name != "" {
			v.User = url.User(name)
		}
	}
	return v.String()
}
