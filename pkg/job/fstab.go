// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package job

import (
	"bufio"
	"io"
	"path"
	"strings"

	"github.com/rewind-backup/rewind/pkg/repo"
)

// fstabEntry is a line of a Linux system's /etc/fstab.
type fstabEntry struct {
	Spec, Dir, Type string
}

// maxFstab bounds what parseFstab reads: fstab files are a few KB.
const maxFstab = 64 << 10

// parseFstab reads the filesystems an fstab mounts (swap, bind mounts and
// kernel filesystems left out).
func parseFstab(r io.Reader) []fstabEntry {
	var out []fstabEntry
	sc := bufio.NewScanner(io.LimitReader(r, maxFstab))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		dir := path.Clean(unescapeFstab(f[1]))
		switch {
		case !strings.HasPrefix(dir, "/"):
			continue // swap, none
		case f[2] == "swap" || f[2] == "proc" || f[2] == "sysfs" || f[2] == "tmpfs" || f[2] == "devpts" || f[2] == "devtmpfs":
			continue
		case len(f) > 3 && hasOption(f[3], "bind"):
			continue
		}
		out = append(out, fstabEntry{Spec: unescapeFstab(f[0]), Dir: dir, Type: f[2]})
	}
	return out
}

func hasOption(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// unescapeFstab undoes fstab's octal escapes ("\040" for a space).
func unescapeFstab(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// mountFor returns the fstab entry that holds path p (the longest mount
// point at or above it), other than "/"; ok is false when only "/" does.
func mountFor(entries []fstabEntry, p string) (e fstabEntry, ok bool) {
	for _, x := range entries {
		if x.Dir == "/" {
			continue
		}
		if (p == x.Dir || strings.HasPrefix(p, x.Dir+"/")) && len(x.Dir) > len(e.Dir) {
			e, ok = x, true
		}
	}
	return e, ok
}

// specMatches reports whether an fstab spec names partition p: by the
// filesystem's UUID or label, or the partition's GPT GUID or name.
func specMatches(spec string, p repo.Partition) bool {
	eq := func(a, b string) bool { return a != "" && strings.EqualFold(a, b) }
	k, v, ok := strings.Cut(spec, "=")
	if !ok {
		for _, pre := range []struct{ dir, key string }{
			{"/dev/disk/by-uuid/", "UUID"}, {"/dev/disk/by-label/", "LABEL"},
			{"/dev/disk/by-partuuid/", "PARTUUID"}, {"/dev/disk/by-partlabel/", "PARTLABEL"},
		} {
			if rest, found := strings.CutPrefix(spec, pre.dir); found {
				k, v = pre.key, rest
			}
		}
	}
	switch strings.ToUpper(k) {
	case "UUID":
		return eq(v, p.UUID)
	case "LABEL":
		return v != "" && v == p.Label
	case "PARTUUID":
		return eq(v, p.GUID)
	case "PARTLABEL":
		return v != "" && v == p.Name
	}
	return false
}
