// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package smb

import (
	"fmt"
	"net"
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
// logs.
func ParseURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the URL, which may hold a password.
		return Config{}, store.Permanent(fmt.Errorf("repository URL is not valid; the form is smb://[user@]host[:port]/share[/path]"))
	}
	if u.Scheme != "smb" {
		return Config{}, store.Permanent(fmt.Errorf("repository URL %q: scheme %q is not smb; the form is smb://[user@]host[:port]/share[/path]", redact(u), u.Scheme))
	}
	if _, has := u.User.Password(); has {
		return Config{}, store.Permanent(fmt.Errorf("repository URL %q holds a password; remove it and use --password-file FILE or the prompt", redact(u)))
	}
	c := Config{Port: 445}
	if u.User != nil {
		c.User = u.User.Username()
		if d, usr, ok := strings.Cut(c.User, ";"); ok {
			c.Domain, c.User = d, usr
		}
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return Config{}, store.Permanent(fmt.Errorf("repository URL %q names no host", redact(u)))
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

// String returns the configuration as a URL, without the password.
func (c Config) String() string {
	u := url.URL{Scheme: "smb", Host: c.Host, Path: "/" + c.Share}
	if c.Port != 0 && c.Port != 445 {
		u.Host = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	}
	if c.Path != "" {
		u.Path += "/" + c.Path
	}
	user := c.User
	if c.Domain != "" {
		user = c.Domain + ";" + user
	}
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}

func redact(u *url.URL) string {
	v := *u
	if v.User != nil {
		v.User = url.User(v.User.Username())
	}
	return v.String()
}
