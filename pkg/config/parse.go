// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package config

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxConf bounds a rewind.conf: it is a handful of lines.
const maxConf = 64 << 10

// ParseConf parses rewind.conf: "key = value" lines, blank lines and lines
// starting with '#' ignored; a value may be wrapped in double quotes. name
// names the file in errors. A key that names a password is refused (use
// password_file); the error never quotes its value. Keys are checked against
// the known ones; values are checked when applied.
func ParseConf(data []byte, name string) ([]Pair, error) {
	if len(data) > maxConf {
		return nil, fmt.Errorf("%s is %d bytes, more than a settings file holds (%d); is it the right file?: %w", name, len(data), maxConf, ErrSetting)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s is not UTF-8 text; save it as plain text: %w", name, ErrSetting)
	}
	var pairs []Pair
	for i, line := range strings.Split(string(data), "\n") {
		where := fmt.Sprintf("%s line %d", name, i+1)
		line = strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: expected \"key = value\": %w", where, ErrSetting)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		k = strings.TrimPrefix(k, "rewind.")
		v = strings.TrimSpace(v)
		if k != "password_file" && looksLikeSecret(k) {
			return nil, fmt.Errorf("%s: a setting whose name contains %q holds a password; put the password in a file and name it with password_file = PATH: %w", where, secretWord(k), ErrPassword)
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if !slices.Contains(keys, k) {
			return nil, fmt.Errorf("%s: unknown setting %q (known: %s): %w", where, k, strings.Join(keys, ", "), ErrSetting)
		}
		pairs = append(pairs, Pair{Key: k, Value: v, Where: where})
	}
	return pairs, nil
}

// ParseCmdline returns the rewind.* keys of a kernel command line, in order.
// Other parameters are ignored. Quoting follows the kernel: double quotes
// group spaces into a value (rewind.machine="front desk"). Any parameter
// that looks like a password (rewind.password=, rewind.password_file=, even
// outside the rewind. prefix: smbpass=) is refused without quoting it.
func ParseCmdline(cmdline string) ([]Pair, error) {
	// Look at every space-separated word too, quotes or not, so that an
	// unbalanced quote cannot carry a password into another value.
	for _, w := range strings.Fields(cmdline) {
		k, _, _ := strings.Cut(strings.ReplaceAll(w, `"`, ""), "=")
		if looksLikeSecret(k) {
			return nil, refusePassword(k)
		}
	}
	var pairs []Pair
	for _, arg := range splitCmdline(cmdline) {
		k, v, _ := strings.Cut(arg, "=")
		lk := strings.ToLower(k)
		if looksLikeSecret(lk) {
			return nil, refusePassword(k)
		}
		if !strings.HasPrefix(lk, "rewind.") {
			continue
		}
		key := strings.TrimPrefix(lk, "rewind.")
		if !slices.Contains(cmdlineKeys, key) {
			return nil, fmt.Errorf("kernel command line: unknown parameter %q (known: rewind.%s): %w", safeKey(k), strings.Join(cmdlineKeys, ", rewind."), ErrSetting)
		}
		pairs = append(pairs, Pair{Key: key, Value: v, Where: "kernel command line"})
	}
	return pairs, nil
}

// refusePassword names the refused parameter only by the word that gave it
// away: an unbalanced quote can make the password part of the "key".
func refusePassword(k string) error {
	return fmt.Errorf("kernel command line: a parameter whose name contains %q looks like a password; a password is never read from the kernel command line (anyone can read it in /proc/cmdline): put it in a file on the boot medium and name it with password_file in rewind.conf: %w", secretWord(k), ErrPassword)
}

// safeKey trims a key for an error message.
func safeKey(k string) string {
	if len(k) > 40 {
		k = k[:40] + "..."
	}
	return strings.ToValidUTF8(k, "?")
}

// splitCmdline splits a command line into parameters the way the kernel's
// next_arg does: on spaces, with double quotes grouping and removed.
func splitCmdline(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}
