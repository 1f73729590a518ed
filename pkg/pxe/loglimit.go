// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"sync"
	"time"
)

// logLimit passes at most burst lines per period to log and counts the
// rest, so that a flood of bad packets cannot flood the log.
type logLimit struct {
	log    func(string, ...any)
	period time.Duration
	burst  int

	mu      sync.Mutex
	start   time.Time
	n       int
	dropped int
}

func newLogLimit(log func(string, ...any), period time.Duration, burst int) *logLimit {
	return &logLimit{log: log, period: period, burst: burst}
}

func (l *logLimit) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.start) > l.period {
		if l.dropped > 0 {
			l.log("(%d more lines like the above left out)", l.dropped)
		}
		l.start, l.n, l.dropped = now, 0, 0
	}
	if l.n >= l.burst {
		l.dropped++
		return
	}
	l.n++
	l.log(format, args...)
}
