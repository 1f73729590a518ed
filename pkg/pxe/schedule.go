// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rewind-backup/rewind/pkg/config"
)

// Schedule is a weekly task for one machine: at its time the server arms a
// one-shot task and wakes the machine with Wake-on-LAN until it boots from
// the network.
type Schedule struct {
	MAC     string       `json:"mac"`
	Machine string       `json:"machine"`
	Task    config.Task  `json:"task"` // capture (restore is never scheduled)
	After   config.After `json:"after,omitempty"`
	Target  string       `json:"target,omitempty"`
	// Weekly is "Sun 02:00" (or "Sun 02:00:30"), the server's local time.
	Weekly string    `json:"weekly"`
	Added  time.Time `json:"added"`
	// LastRun is the occurrence that last fired (the scheduled time, not
	// when it ran), so that a missed one is run once at the next start.
	LastRun time.Time `json:"last_run,omitzero"`
}

// weekly is a parsed Weekly.
type weekly struct {
	day   time.Weekday
	clock time.Duration // since midnight
}

// parseWeekly reads "Sun 02:00" or "sunday 2:00:30".
func parseWeekly(s string) (weekly, error) {
	f := strings.Fields(s)
	bad := fmt.Errorf("--weekly %s is not a day and a time like \"Sun 02:00\": %w", safeText(s), ErrTask)
	if len(f) != 2 || len(f[0]) < 3 {
		return weekly{}, bad
	}
	day := -1
	for d := time.Sunday; d <= time.Saturday; d++ {
		if strings.HasPrefix(strings.ToLower(d.String()), strings.ToLower(f[0])) {
			day = int(d)
		}
	}
	parts := strings.Split(f[1], ":")
	if day < 0 || len(parts) < 2 || len(parts) > 3 {
		return weekly{}, bad
	}
	limits := []int{24, 60, 60}
	var clock time.Duration
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n >= limits[i] {
			return weekly{}, bad
		}
		clock += time.Duration(n) * []time.Duration{time.Hour, time.Minute, time.Second}[i]
	}
	return weekly{day: time.Weekday(day), clock: clock}, nil
}

// at is the occurrence of w in the week of t (local time, the day's
// midnight plus the clock, so a daylight-saving change moves it by the
// change).
func (w weekly) at(t time.Time) time.Time {
	y, m, d := t.Date()
	mid := time.Date(y, m, d, 0, 0, 0, 0, t.Location())
	return mid.AddDate(0, 0, int(w.day)-int(t.Weekday())).Add(w.clock)
}

// Next is the first occurrence of s after t.
func (s Schedule) Next(t time.Time) (time.Time, error) {
	w, err := parseWeekly(s.Weekly)
	if err != nil {
		return time.Time{}, err
	}
	n := w.at(t)
	if !n.After(t) {
		n = w.at(t.AddDate(0, 0, 7))
	}
	return n, nil
}

// prev is the last occurrence of s at or before t.
func (s Schedule) prev(t time.Time) (time.Time, error) {
	w, err := parseWeekly(s.Weekly)
	if err != nil {
		return time.Time{}, err
	}
	p := w.at(t)
	if p.After(t) {
		p = w.at(t.AddDate(0, 0, -7))
	}
	return p, nil
}

// Check reports what is wrong with s.
func (s Schedule) Check() error {
	if _, err := ParseMAC(s.MAC); err != nil {
		return err
	}
	if s.Machine == "" || strings.ContainsAny(s.Machine+s.Target, " \t\n\"") {
		return fmt.Errorf("schedule for %s needs --machine NAME, without spaces or quotes: %w", s.MAC, ErrTask)
	}
	if s.Task != config.TaskCapture {
		return fmt.Errorf("schedule task %q for %s: only capture is scheduled (a restore is for a person to start): %w", s.Task, s.MAC, ErrTask)
	}
	_, err := parseWeekly(s.Weekly)
	return err
}

// PutSchedule adds or replaces the schedule for s.MAC.
func (f *TasksFile) PutSchedule(s Schedule) {
	for i := range f.Schedules {
		if f.Schedules[i].MAC == s.MAC {
			f.Schedules[i] = s
			return
		}
	}
	f.Schedules = append(f.Schedules, s)
}

// RemoveSchedule removes the schedule of mac and reports whether there
// was one.
func (f *TasksFile) RemoveSchedule(mac string) bool {
	for i := range f.Schedules {
		if f.Schedules[i].MAC == mac {
			f.Schedules = append(f.Schedules[:i], f.Schedules[i+1:]...)
			return true
		}
	}
	return false
}

// Scheduler fires schedules: at a schedule's time (or at start, for one
// missed by less than Grace) it arms a one-shot task for the machine and
// sends Wake-on-LAN every WakeEvery until the machine asks for its boot
// file (Seen) or WakeFor has passed.
type Scheduler struct {
	Tasks *Tasks
	// Wake sends one magic packet for mac.
	Wake func(mac net.HardwareAddr) error
	Log  func(format string, args ...any)
	// Grace is how late a missed schedule still runs at start (default 12h).
	Grace time.Duration
	// WakeEvery and WakeFor: one packet a minute for 15 minutes by default.
	WakeEvery, WakeFor time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]chan struct{} // machines being woken
}

// Seen tells the scheduler that mac asked for its boot file: its wake-up
// is over. It may be called concurrently and for any MAC.
func (s *Scheduler) Seen(mac string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.seen[mac]; ok {
		close(ch)
		delete(s.seen, mac)
	}
}

// Run fires schedules until ctx is done. It re-reads the tasks file at
// least every minute and whenever a schedule is due.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Grace == 0 {
		s.Grace = 12 * time.Hour
	}
	if s.WakeEvery == 0 {
		s.WakeEvery = time.Minute
	}
	if s.WakeFor == 0 {
		s.WakeFor = 15 * time.Minute
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	start := s.Now()
	for {
		now := s.Now()
		f, err := s.Tasks.Load()
		if err != nil {
			s.Log("schedule: %v", err)
		}
		wait := time.Minute
		for _, sc := range f.Schedules {
			due, err := sc.prev(now)
			if err != nil {
				continue
			}
			// Due: an occurrence after the schedule was added that has
			// not fired, either since the server runs or missed before
			// it started by less than Grace.
			since := sc.LastRun
			if sc.Added.After(since) {
				since = sc.Added
			}
			if due.After(since) && (!due.Before(start) || now.Sub(due) <= s.Grace) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.fire(ctx, sc, due)
				}()
			}
			if next, err := sc.Next(now); err == nil && next.Sub(now) < wait {
				wait = next.Sub(now)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// fire arms the task for one occurrence and wakes the machine.
func (s *Scheduler) fire(ctx context.Context, sc Schedule, due time.Time) {
	fired := false
	err := s.Tasks.Update(func(f *TasksFile) error {
		for i := range f.Schedules {
			if f.Schedules[i].MAC == sc.MAC && f.Schedules[i].Weekly == sc.Weekly && due.After(f.Schedules[i].LastRun) {
				f.Schedules[i].LastRun = due
				f.Put(Task{MAC: sc.MAC, Machine: sc.Machine, Task: sc.Task, Target: sc.Target, After: sc.After, Once: true, Added: s.Now().UTC()})
				fired = true
			}
		}
		return nil
	})
	if err != nil {
		s.Log("schedule: %s: arming the task: %v", sc.MAC, err)
		return
	}
	if !fired {
		return // another run of the loop, or a changed schedule
	}
	late := ""
	if d := s.Now().Sub(due); d > time.Minute {
		late = fmt.Sprintf(" (missed by %v while the server was down)", d.Round(time.Minute))
	}
	s.Log("schedule: %s: %s (%s) armed one-shot %s for machine %s%s; waking it", sc.MAC, sc.Weekly, due.Format("2006-01-02 15:04:05"), sc.Task, sc.Machine, late)
	mac, _ := net.ParseMAC(sc.MAC)
	seen := make(chan struct{})
	s.mu.Lock()
	if s.seen == nil {
		s.seen = map[string]chan struct{}{}
	}
	s.seen[sc.MAC] = seen
	s.mu.Unlock()
	defer s.Seen(sc.MAC) // stop listening
	deadline := time.NewTimer(s.WakeFor)
	defer deadline.Stop()
	tick := time.NewTicker(s.WakeEvery)
	defer tick.Stop()
	for n := 1; ; n++ {
		if err := s.Wake(mac); err != nil {
			s.Log("schedule: %s: Wake-on-LAN: %v", sc.MAC, err)
		} else {
			s.Log("schedule: %s: Wake-on-LAN packet %d sent", sc.MAC, n)
		}
		select {
		case <-ctx.Done():
			return
		case <-seen:
			s.Log("schedule: %s: the machine is booting from the network", sc.MAC)
			return
		case <-deadline.C:
			s.Log("schedule: %s: no network boot within %v of the first wake-up; is Wake-on-LAN on in its firmware? The task stays armed for its next network boot", sc.MAC, s.WakeFor)
			return
		case <-tick.C:
		}
	}
}

// MagicPacket is the Wake-on-LAN packet for mac: six 0xFF bytes, then the
// MAC sixteen times.
func MagicPacket(mac net.HardwareAddr) []byte {
	p := make([]byte, 0, 6+16*len(mac))
	for range 6 {
		p = append(p, 0xff)
	}
	for range 16 {
		p = append(p, mac...)
	}
	return p
}

// BroadcastAddr is the broadcast address of the IPv4 network n; the
// limited broadcast 255.255.255.255 if n has no IPv4 address and mask.
func BroadcastAddr(n *net.IPNet) net.IP {
	ip := n.IP.To4()
	if ip == nil || len(n.Mask) < 4 {
		return net.IPv4bcast
	}
	b := make(net.IP, 4)
	for i := range b {
		b[i] = ip[i] | ^n.Mask[len(n.Mask)-4+i]
	}
	return b
}

// WakeOnLAN returns a Wake func that sends the magic packet to UDP port 9
// of the broadcast address bcast, from the server's address ip.
func WakeOnLAN(ip, bcast net.IP) func(net.HardwareAddr) error {
	return func(mac net.HardwareAddr) error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := setBroadcast(c); err != nil {
			return err
		}
		_, err = c.WriteToUDP(MagicPacket(mac), &net.UDPAddr{IP: bcast, Port: 9})
		return err
	}
}
