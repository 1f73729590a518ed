// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package tui

import (
	"strings"
	"unicode/utf8"
)

// A style is a few SGR attributes. The wizard uses its own rather than a
// styling library: the Linux console has no terminfo entry to look up, and
// 16 colours plus reverse video are all it needs.
type style struct {
	fg, bg  int // ANSI colour 30–37 / 40–47; 0: the terminal's
	bold    bool
	reverse bool
	dim     bool
}

var (
	stTitle   = style{reverse: true, bold: true}
	stCursor  = style{reverse: true}
	stDim     = style{dim: true}
	stWarn    = style{fg: 33, bold: true}
	stErr     = style{fg: 31, bold: true}
	stOK      = style{fg: 32, bold: true}
	stHint    = style{fg: 36}
	stBanner  = style{fg: 37, bg: 44, bold: true} // running: white on blue
	stBanOK   = style{fg: 30, bg: 42, bold: true} // done: black on green
	stBanFail = style{fg: 37, bg: 41, bold: true} // failed: white on red
)

// render returns s in the style. Without colour only reverse video (and
// bold for titles and banners) is used; dim and colours are dropped, so
// the meaning must never rest on colour alone.
func (st style) render(s string, color bool) string {
	var codes []string
	if st.bold {
		codes = append(codes, "1")
	}
	if color {
		if st.dim {
			codes = append(codes, "2")
		}
		if st.fg != 0 {
			codes = append(codes, itoa(st.fg))
		}
		if st.bg != 0 {
			codes = append(codes, itoa(st.bg))
		}
	} else if st.bg != 0 {
		codes = append(codes, "7")
	}
	if st.reverse {
		codes = append(codes, "7")
	}
	if len(codes) == 0 {
		return s
	}
	return "\x1b[" + strings.Join(codes, ";") + "m" + s + "\x1b[0m"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// fit cuts s to at most w characters (ASCII-minded: the console font has
// few glyphs anyway), marking a cut with '~', or pads it to w.
func fit(s string, w int) string {
	n := utf8.RuneCountInString(s)
	if n > w {
		r := []rune(s)
		if w <= 1 {
			return string(r[:w])
		}
		return string(r[:w-1]) + "~"
	}
	return s + strings.Repeat(" ", w-n)
}

// wrap breaks s into lines of at most w characters at spaces.
func wrap(s string, w int) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = word
			case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= w:
				line += " " + word
			default:
				lines = append(lines, line)
				line = word
			}
			for utf8.RuneCountInString(line) > w {
				r := []rune(line)
				lines = append(lines, string(r[:w]))
				line = string(r[w:])
			}
		}
		lines = append(lines, line)
	}
	return lines
}
