// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// HTTPConfig is what the HTTP side serves.
type HTTPConfig struct {
	Bundle *Bundle
	Tasks  *Tasks
	// Base is the URL machines reach this server at, http://IP:PORT.
	Base string
	// Repo and PasswordFile are the repository and the file holding its
	// password that tasks use unless they name their own.
	Repo         string
	PasswordFile string
	// KernelArgs go on every kernel line before rewind's own (console=...).
	KernelArgs string
	// MenuTimeout is how long the menu of a machine without a task waits
	// before it boots the local disk.
	MenuTimeout time.Duration
	// Log receives one line per request served or refused; never nil.
	Log func(format string, args ...any)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Neighbor returns the MAC its kernel resolved for an address ("" if
	// unknown): a request naming another MAC than the requester's gets
	// no task and no settings. Nil means Neighbors (the ARP table).
	Neighbor func(ip string) string
}

// maxPassword bounds a password file.
const maxPassword = 4 << 10

// maxReportBody bounds a POST /done body.
const maxReportBody = 64 << 10

// grantTTL is how long a settings URL handed out in a script stays valid.
const grantTTL = 10 * time.Minute

// maxGrants bounds the settings URLs outstanding at once.
const maxGrants = 256

// Site is what the HTTP and TFTP sides share: the tasks, the bundle, and
// the one-time settings URLs handed out in scripts. Its methods may be
// called concurrently.
type Site struct {
	c      HTTPConfig
	mu     sync.Mutex
	grants map[string]grant
}

// NewSite returns the site for c.
func NewSite(c HTTPConfig) *Site {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Neighbor == nil {
		c.Neighbor = Neighbors
	}
	return &Site{c: c, grants: map[string]grant{}}
}

// NewHTTPHandler is NewSite(c).Handler().
func NewHTTPHandler(c HTTPConfig) http.Handler { return NewSite(c).Handler() }

// Handler returns the HTTP side of the server:
//
//	GET  /boot/MAC          the machine's iPXE script (its task, or the menu)
//	GET  /files/NAME        a file of the bundle (kernel, initramfs, ...)
//	GET  /settings/TOKEN    the machine's settings archive, once, to the
//	                        address that fetched the script naming TOKEN
//	POST /done/MAC          the environment's result line; clears a one-shot task
func (h *Site) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boot/{mac}", h.script)
	mux.HandleFunc("GET /files/{name...}", h.file)
	mux.HandleFunc("GET /settings/{token}", h.settings)
	mux.HandleFunc("POST /done/{mac}", h.done)
	return mux
}

// grant is a settings URL handed out in a script.
type grant struct {
	mac, ip string
	expires time.Time
	pwFile  string
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Site) script(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	mac, err := ParseMAC(r.PathValue("mac"))
	if err != nil {
		h.c.Log("http: %s: script for %s refused: %v", ip, safeText(r.PathValue("mac")), err)
		http.Error(w, "not a MAC address", http.StatusNotFound)
		return
	}
	t, ok, a, err := h.plan("http", mac, ip, h.c.Base+"/settings/")
	if err != nil {
		http.Error(w, "server error", http.StatusInternalServerError)
		return
	}
	if !ok {
		writeText(w, menuScript(a))
		return
	}
	writeText(w, taskScript(t, a))
}

// plan looks up mac's task for a boot script fetched by ip over proto
// ("http", "tftp") and, when there is a password to give, hands out a
// one-time settings URL under settingsBase. ok is false for a machine
// without a task (the menu); err only when no URL can be made.
func (h *Site) plan(proto, mac, ip, settingsBase string) (Task, bool, scriptArgs, error) {
	if real := h.c.Neighbor(ip); real != "" && real != mac {
		// Not that machine: it gets what a machine without a task
		// gets, and the log says who asked for whom.
		h.c.Log("%s: %s: asks for the boot script of %s but its MAC is %s: refused; serving the menu", proto, ip, mac, real)
		return Task{}, false, scriptArgs{base: h.c.Base, mac: mac, kernelArgs: h.c.KernelArgs, menuTimeout: h.c.MenuTimeout}, nil
	}
	t, ok, err := h.c.Tasks.Get(mac)
	if err != nil {
		// A broken tasks file must not send machines into a task:
		// they get the menu, which boots the local disk.
		h.c.Log("%s: %s: %s: %v; serving the menu", proto, ip, mac, err)
		ok = false
	}
	a := scriptArgs{base: h.c.Base, mac: mac, kernelArgs: h.c.KernelArgs, repo: h.c.Repo, menuTimeout: h.c.MenuTimeout}
	if !ok {
		h.c.Log("%s: %s: %s has no task: menu (local disk after %v)", proto, ip, mac, h.c.MenuTimeout)
		return Task{}, false, a, nil
	}
	if t.Repo != "" {
		a.repo = t.Repo
	}
	pwFile := h.c.PasswordFile
	if t.PasswordFile != "" {
		pwFile = t.PasswordFile
	}
	if pwFile != "" {
		token, err := h.grant(mac, ip, pwFile)
		if err != nil {
			h.c.Log("%s: %s: %s: %v", proto, ip, mac, err)
			return Task{}, false, a, err
		}
		a.settingsURL = settingsBase + token
	} else if t.Task != "wizard" {
		h.c.Log("%s: %s: %s: warning: no password file for task %s (serve --password-file or task add --password-file); the environment will stop and say so", proto, ip, mac, t.Task)
	}
	h.c.Log("%s: %s: %s: task %s for machine %s", proto, ip, mac, t.Task, t.Machine)
	return t, true, a, nil
}

// grant records a one-time settings URL for mac fetched from ip.
func (h *Site) grant(mac, ip, pwFile string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b[:])
	now := h.c.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, g := range h.grants {
		if now.After(g.expires) {
			delete(h.grants, k)
		}
	}
	if len(h.grants) >= maxGrants {
		// Drop the oldest: a flood of script requests cannot grow
		// this map, only shorten the life of old URLs.
		var oldest string
		for k, g := range h.grants {
			if oldest == "" || g.expires.Before(h.grants[oldest].expires) {
				oldest = k
			}
		}
		delete(h.grants, oldest)
	}
	h.grants[token] = grant{mac: mac, ip: ip, expires: now.Add(grantTTL), pwFile: pwFile}
	return token, nil
}

func (h *Site) settings(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	b, err := h.settingsArchive("http", r.PathValue("token"), ip)
	if err != nil {
		code := http.StatusNotFound
		if !errors.Is(err, fs.ErrNotExist) {
			code = http.StatusInternalServerError
		}
		http.Error(w, http.StatusText(code), code)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// settingsArchive returns the settings archive of the one-time token,
// once, to the address the script naming it went to; fs.ErrNotExist for an
// unknown, used or expired token or another address.
func (h *Site) settingsArchive(proto, token, ip string) ([]byte, error) {
	h.mu.Lock()
	g, ok := h.grants[token]
	if ok && g.ip == ip && h.c.Now().Before(g.expires) {
		delete(h.grants, token) // once
	} else {
		ok = false
	}
	h.mu.Unlock()
	if !ok {
		h.c.Log("%s: %s: settings refused: unknown, used or expired URL, or another address than the one that fetched the script", proto, ip)
		return nil, fs.ErrNotExist
	}
	pw, err := readPassword(g.pwFile)
	if err != nil {
		h.c.Log("%s: %s: %s: %v", proto, ip, g.mac, err)
		return nil, err
	}
	h.c.Log("%s: %s: %s: settings (password file) sent", proto, ip, g.mac)
	return settingsArchive(g.mac, pw), nil
}

// readPassword reads a password file, bounded; errors never quote it.
func readPassword(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("password file %s cannot be read: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPassword+1))
	if err != nil {
		return nil, fmt.Errorf("password file %s cannot be read: %w", path, err)
	}
	if len(b) > maxPassword {
		return nil, fmt.Errorf("password file %s is larger than %d bytes; is it the right file?", path, maxPassword)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("password file %s is empty; put the repository password in it", path)
	}
	return b, nil
}

func (h *Site) file(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	name := r.PathValue("name")
	f, fi, err := h.c.Bundle.Open(name)
	if err != nil {
		h.c.Log("http: %s: %s refused: %v", ip, safeText(name), err)
		code := http.StatusNotFound
		if !errors.Is(err, ErrRefused) && !errors.Is(err, fs.ErrNotExist) {
			code = http.StatusInternalServerError
		}
		http.Error(w, http.StatusText(code), code)
		return
	}
	defer f.Close()
	start := time.Now()
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", fi.ModTime(), f)
	h.c.Log("http: %s: sent %s (%d bytes) in %v", ip, safeText(name), fi.Size(), time.Since(start).Round(time.Millisecond))
}

func (h *Site) done(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	mac, err := ParseMAC(r.PathValue("mac"))
	if err != nil {
		h.c.Log("http: %s: report for %s refused: %v", ip, safeText(r.PathValue("mac")), err)
		http.Error(w, "not a MAC address", http.StatusNotFound)
		return
	}
	if real := h.c.Neighbor(ip); real != "" && real != mac {
		h.c.Log("http: %s: reports for %s but its MAC is %s: refused", ip, mac, real)
		http.Error(w, "not that machine", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReportBody))
	if err != nil {
		h.c.Log("http: %s: report for %s refused: %v", ip, mac, err)
		http.Error(w, "report too large", http.StatusRequestEntityTooLarge)
		return
	}
	var line struct {
		OK *bool `json:"ok"`
	}
	if err := json.Unmarshal(body, &line); err != nil || line.OK == nil {
		h.c.Log("http: %s: report for %s refused: not a rewind result line", ip, mac)
		http.Error(w, "not a rewind result line", http.StatusBadRequest)
		return
	}
	res := Result{MAC: mac, OK: *line.OK, Time: h.c.Now().UTC(), From: ip, Report: json.RawMessage(body)}
	err = h.c.Tasks.Update(func(f *TasksFile) error {
		res = f.Record(res)
		return nil
	})
	if err != nil {
		h.c.Log("http: %s: report for %s not recorded: %v", ip, mac, err)
		http.Error(w, "server error", http.StatusInternalServerError)
		return
	}
	what := "kept"
	if res.Cleared {
		what = "cleared (one-shot)"
	}
	h.c.Log("http: %s: %s reported task %s ok=%v; task %s", ip, mac, res.Task, res.OK, what)
	writeText(w, "recorded\n")
}

func writeText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, s)
}
