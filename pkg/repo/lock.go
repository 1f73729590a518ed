// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// Lock timing. A holder refreshes its lock every lockRefresh; a lock not
// refreshed for lockStale is left over from a process that died.
const (
	lockRefresh = 5 * time.Minute
	lockStale   = 30 * time.Minute
)

// LockInfo is the content of a lock file, locks/<random id>.
type LockInfo struct {
	Exclusive bool      `json:"exclusive"`
	Op        string    `json:"op"` // what holds it: "capture", "restore", "prune", ...
	Machine   string    `json:"machine,omitempty"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Time      time.Time `json:"time"` // created or last refreshed
}

// ErrLocked is wrapped by Lock's error when another process holds a
// conflicting lock.
var ErrLocked = errors.New("repository is locked")

// Lock is a held lock. Release it with Unlock.
type Lock struct {
	r    *Repository
	name string
	info LockInfo

	now     func() time.Time // the Locker's clock
	mu      sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	lost    chan struct{} // closed when the lock could not be kept fresh
	lastErr error
}

// Lost is closed when the lock could not be refreshed for so long that
// others may take it for stale (20 of the 30 minutes): the holder must stop
// writing. Use Context to tie work to it.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Context returns a context that is cancelled when ctx is or when the lock
// is lost.
func (l *Lock) Context(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-l.lost:
			cancel(fmt.Errorf("lost the repository lock: it could not be refreshed (%v); stopped so that a prune cannot remove chunks in use", l.err()))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

func (l *Lock) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// Locker says who is locking; the zero value means this host and process,
// on the system clock.
type Locker struct {
	Host string
	PID  int
	// Alive reports whether process pid runs on this host; nil means
	// processAlive. Tests replace it.
	Alive func(pid int) bool
	// Now is the clock that dates locks and judges staleness and Lock's
	// wait; nil means time.Now.
	Now func() time.Time
	// After returns a channel that receives once d has passed on that
	// clock, as time.After (the default when nil) does: a waiting Lock
	// tries again when it receives.
	After func(d time.Duration) <-chan time.Time
}

func (l Locker) fill() Locker {
	if l.Host == "" {
		l.Host, _ = os.Hostname()
	}
	if l.PID == 0 {
		l.PID = os.Getpid()
	}
	if l.Alive == nil {
		l.Alive = processAlive
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.After == nil {
		l.After = time.After
	}
	return l
}

// Stale reports whether lock info was left by a process that is gone: not
// refreshed for half an hour, or held by a process of this host that no
// longer runs.
func (l Locker) Stale(info LockInfo) bool {
	l = l.fill()
	if l.Now().Sub(info.Time) > lockStale {
		return true
	}
	return info.Host == l.Host && info.PID != l.PID && !l.Alive(info.PID)
}

// Lock takes a lock on the repository: shared (many writers and readers at
// once: capture, backup, restore, forget) or exclusive (prune). It fails with
// ErrLocked when a conflicting lock is held, unless wait is positive, in
// which case it tries again until wait has passed. The lock is refreshed in
// the background until Unlock.
func (r *Repository) Lock(ctx context.Context, exclusive bool, op, machine string, wait time.Duration, who Locker) (*Lock, error) {
	who = who.fill()
	deadline := who.Now().Add(wait)
	pause := 250 * time.Millisecond
	for {
		l, err := r.tryLock(ctx, exclusive, op, machine, who)
		if err == nil || !errors.Is(err, ErrLocked) || !who.Now().Before(deadline) {
			return l, err
		}
		next := who.After(min(pause, deadline.Sub(who.Now())+time.Millisecond))
		pause = min(2*pause, 10*time.Second)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-next:
		}
	}
}

func (r *Repository) tryLock(ctx context.Context, exclusive bool, op, machine string, who Locker) (*Lock, error) {
	var id [8]byte
	rand.Read(id[:])
	l := &Lock{
		r:    r,
		name: locksDir + "/" + hex.EncodeToString(id[:]),
		info: LockInfo{Exclusive: exclusive, Op: op, Machine: machine, Host: who.Host, PID: who.PID, Time: who.Now()},
		now:  who.Now,
		stop: make(chan struct{}),
		done: make(chan struct{}),
		lost: make(chan struct{}),
	}
	if err := l.save(ctx); err != nil {
		return nil, fmt.Errorf("writing a lock to %s: %w", r.s.Location(), err)
	}
	// Ours is visible now; anyone who locks after this sees it. Look for
	// locks that were there first.
	others, err := r.Locks(ctx)
	if err != nil {
		r.s.Remove(context.WithoutCancel(ctx), l.name)
		return nil, err
	}
	for name, o := range others {
		if name == l.name || who.Stale(o) {
			continue
		}
		if exclusive || o.Exclusive {
			r.s.Remove(context.WithoutCancel(ctx), l.name)
			return nil, fmt.Errorf("%w by %s on %s (pid %d) since %s; wait for it to finish, or if that process is gone, remove %s/%s", ErrLocked, o.Op, o.Host, o.PID, o.Time.Local().Format("2006-01-02 15:04"), r.s.Location(), name)
		}
	}
	go l.refresh()
	return l, nil
}

func (l *Lock) save(ctx context.Context) error {
	data, err := json.Marshal(l.info)
	if err != nil {
		return err
	}
	return l.r.s.Save(ctx, l.name, data)
}

func (l *Lock) refresh() {
	defer close(l.done)
	t := time.NewTicker(lockRefresh)
	defer t.Stop()
	fresh := l.now()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.info.Time = l.now()
			err := l.save(context.Background())
			l.lastErr = err
			l.mu.Unlock()
			if err == nil {
				fresh = l.now()
			} else if l.now().Sub(fresh) > lockStale*2/3 {
				close(l.lost)
				return
			}
		}
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock(ctx context.Context) error {
	close(l.stop)
	<-l.done
	err := l.r.s.Remove(ctx, l.name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Locks returns the locks in the repository by file name. A lock file that
// cannot be parsed counts as an exclusive lock of an unknown holder, dated
// by the file's modification time: it blocks others until it is stale,
// rather than being taken for no lock at all.
func (r *Repository) Locks(ctx context.Context) (map[string]LockInfo, error) {
	var files []fsInfo
	err := r.s.List(ctx, locksDir, func(fi fsInfo) error {
		if fi.Name != keepFile && !isTemp(fi.Name) {
			files = append(files, fi)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing locks in %s: %w", r.s.Location(), err)
	}
	out := make(map[string]LockInfo, len(files))
	for _, fi := range files {
		n := locksDir + "/" + fi.Name
		data, err := r.s.ReadFile(ctx, n)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading lock %s: %w", n, err)
		}
		info, err := ParseLock(data)
		if err != nil {
			info = LockInfo{Exclusive: true, Op: "an unreadable lock file", Host: "an unknown host", Time: fi.ModTime}
		}
		out[n] = info
	}
	return out, nil
}

// ParseLock parses a lock file.
func ParseLock(data []byte) (LockInfo, error) {
	var info LockInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return LockInfo{}, fmt.Errorf("lock is damaged: %v", err)
	}
	if info.Time.IsZero() || info.Host == "" || info.Op == "" {
		return LockInfo{}, errors.New("lock lacks its time, host or operation")
	}
	return info, nil
}

// RemoveStaleLocks removes locks left by processes that are gone and returns
// how many.
func (r *Repository) RemoveStaleLocks(ctx context.Context, who Locker) (int, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for name, info := range locks {
		if who.Stale(info) {
			if err := r.s.Remove(ctx, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
