// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package smb keeps a repository on an SMB 2/3 share (a NAS, a Windows
// share, Samba), through github.com/cloudsoda/go-smb2, the maintained fork of
// hirochachacha/go-smb2.
//
// A Store holds a small pool of connections. go-smb2 sends one request and
// waits for its answer inside each call, so callers get throughput by
// keeping several calls in flight; the pool spreads them over more than one
// TCP connection. A connection that fails is dropped and dialled again on
// next use; retrying the failed call is the job of the retry wrapper
// (package retry), not of this package.
package smb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"

	"github.com/rewind-backup/rewind/pkg/store"
)

const (
	dialTimeout = 15 * time.Second
	// opTimeout bounds one call, so that a server that stops answering
	// without closing the connection turns into an error the retry wrapper
	// can act on.
	opTimeout = 2 * time.Minute
)

// Store is a store.Store on an SMB share.
type Store struct {
	cfg   Config
	slots []*slot
	next  atomic.Uint32
	dirs  sync.Map // folders known to exist
}

var _ store.Store = (*Store)(nil)

// slot is one connection of the pool, dialled on demand.
type slot struct {
	mu    sync.Mutex
	conn  net.Conn // the TCP connection under sess
	sess  *smb2.Session
	share *smb2.Share
}

// Open connects to the share and checks that it can be used. Its errors say
// plainly what went wrong (host unreachable, wrong password, no such share)
// and are permanent: Open does not retry, so that a typo is reported at once.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Host == "" || cfg.Share == "" {
		return nil, store.Permanent(errors.New("smb: host and share are required"))
	}
	if cfg.Port == 0 {
		cfg.Port = 445
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 2
	}
	s := &Store{cfg: cfg}
	for range cfg.Conns {
		s.slots = append(s.slots, &slot{})
	}
	if _, err := s.slots[0].get(ctx, s); err != nil {
		return nil, store.Permanent(err)
	}
	return s, nil
}

// Location implements store.Store: the share's URL without the password.
func (s *Store) Location() string { return s.cfg.String() }

// get returns the slot's share, dialling it if needed.
func (sl *slot) get(ctx context.Context, s *Store) (*smb2.Share, error) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.share != nil {
		return sl.share, nil
	}
	conn, sess, share, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	sl.conn, sl.sess, sl.share = conn, sess, share
	return share, nil
}

// drop closes the slot's connection if it is still share, so that the next
// call dials again. It closes the TCP connection rather than logging off:
// the connection is broken, other calls may still be waiting on it, and
// go-smb2's Umount and Logoff are not safe beside them.
func (sl *slot) drop(share *smb2.Share) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.share != share || share == nil {
		return
	}
	sl.conn.Close()
	sl.conn, sl.share, sl.sess = nil, nil, nil
}

func (s *Store) dial(ctx context.Context) (net.Conn, *smb2.Session, *smb2.Share, error) {
	where := s.cfg.String()
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	nd := net.Dialer{KeepAlive: 30 * time.Second}
	tcp, err := nd.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cannot reach the NAS at %s (%v): check the address and port, that the NAS is on, and that SMB is enabled", addr, unwrapOp(err))
	}
	w := &watch{Conn: tcp}
	d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{
		User:     s.cfg.User,
		Password: s.cfg.Password,
		Domain:   s.cfg.Domain,
	}}
	sess, err := d.DialConn(dctx, w, addr)
	if err != nil {
		tcp.Close()
		return nil, nil, nil, fmt.Errorf("%s: %w", where, explain(err, s.cfg))
	}
	share, err := sess.Mount(s.cfg.Share)
	if err != nil {
		sess.Logoff()
		tcp.Close()
		return nil, nil, nil, fmt.Errorf("%s: %w", where, explain(err, s.cfg))
	}
	if s.cfg.RequireEncryption {
		// The server decides whether to encrypt (per session or per share);
		// check what actually crosses the wire after the tree connect.
		before := w.plain.Load()
		_, err := share.WithContext(dctx).Stat(".")
		if err == nil && w.plain.Load() != before {
			err = store.Permanent(fmt.Errorf("the server does not encrypt this share's traffic, and encryption is required: enable SMB3 encryption for share %q on the NAS (Samba: server smb encrypt = required), or drop the encryption requirement", s.cfg.Share))
		}
		if err != nil {
			share.Umount()
			sess.Logoff()
			tcp.Close()
			return nil, nil, nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	return tcp, sess, share, nil
}

// NT status codes rewind explains to people.
const (
	statusLogonFailure     = 0xC000006D
	statusAccountDisabled  = 0xC0000072
	statusPasswordExpired  = 0xC0000071
	statusAccountLockedOut = 0xC0000234
	statusBadNetworkName   = 0xC00000CC
)

// explain turns session setup and tree connect failures into sentences.
func explain(err error, cfg Config) error {
	user := cfg.userName()
	if user == "" {
		user = "(no user)"
	}
	var re *smb2.ResponseError
	switch {
	case errors.As(err, &re) && re.Code == statusLogonFailure:
		return store.Permanent(fmt.Errorf("the NAS refused user %s: wrong user name or password; check the password file", user))
	case errors.As(err, &re) && (re.Code == statusAccountDisabled || re.Code == statusPasswordExpired || re.Code == statusAccountLockedOut):
		return store.Permanent(fmt.Errorf("the NAS refused user %s: the account is disabled, locked or its password expired (%v)", user, err))
	case errors.As(err, &re) && re.Code == statusBadNetworkName:
		return store.Permanent(fmt.Errorf("the NAS has no share named %q: check the share name in the repository URL", cfg.Share))
	case errors.Is(err, fs.ErrPermission):
		return store.Permanent(fmt.Errorf("user %s may not use share %q: grant access on the NAS", user, cfg.Share))
	}
	return err
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// do runs fn on a pooled connection with a bounded time, drops the
// connection if fn failed in a way that says it is broken, and returns fn's
// error mapped to the store contract.
func (s *Store) do(ctx context.Context, fn func(sh *smb2.Share) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sl := s.slots[int(s.next.Add(1))%len(s.slots)]
	share, err := sl.get(ctx, s)
	if err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	sh := share.WithContext(octx)
	err = fn(sh)
	// A file being renamed over by another writer cannot be opened for a
	// moment (SMB's sharing rules); that is no failure of the store.
	for i := 0; i < shareRetries && sharingViolation(err); i++ {
		time.Sleep(shareBackoff(i))
		err = fn(sh)
	}
	if err != nil && brokenConn(err) {
		sl.drop(share)
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// brokenConn reports whether err says the connection is unusable, rather
// than being the server's answer to a request.
func brokenConn(err error) bool {
	var re *smb2.ResponseError
	return !(errors.As(err, &re) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, io.EOF) || errors.Is(err, store.ErrPermanent))
}

func (s *Store) path(name string) (string, error) {
	if err := store.ValidName(name); err != nil {
		return "", err
	}
	return s.join(name), nil
}

func (s *Store) join(name string) string {
	if s.cfg.Path == "" {
		return name
	}
	if name == "" {
		return s.cfg.Path
	}
	return s.cfg.Path + "/" + name
}

// Stat implements store.Store.
func (s *Store) Stat(ctx context.Context, name string) (store.Info, error) {
	p, err := s.path(name)
	if err != nil {
		return store.Info{}, err
	}
	var info store.Info
	err = s.do(ctx, func(sh *smb2.Share) error {
		fi, err := sh.Stat(p)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return store.Permanent(fmt.Errorf("%s is not a regular file", p))
		}
		info = store.Info{Name: path.Base(name), Size: fi.Size(), ModTime: fi.ModTime()}
		return nil
	})
	return info, err
}

// ReadFile implements store.Store.
func (s *Store) ReadFile(ctx context.Context, name string) ([]byte, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = s.do(ctx, func(sh *smb2.Share) error {
		var err error
		data, err = sh.ReadFile(p)
		return err
	})
	return data, err
}

// ReadAt implements store.Store.
func (s *Store) ReadAt(ctx context.Context, name string, b []byte, off int64) (int, error) {
	p, err := s.path(name)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.do(ctx, func(sh *smb2.Share) error {
		f, err := sh.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err = f.ReadAt(b, off)
		if err == nil && n < len(b) {
			err = io.EOF // go-smb2 returns a short read at the end without it
		}
		return err
	})
	return n, err
}

// Save implements store.Store: a temporary file next to the target, written,
// flushed to stable storage on the server, closed, then renamed over the
// target.
func (s *Store) Save(ctx context.Context, name string, data []byte) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	tmp := path.Join(path.Dir(p), store.TempPrefix+randomSuffix())
	return s.do(ctx, func(sh *smb2.Share) error {
		f, err := sh.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrNotExist) {
			if err = s.mkdirAll(sh, path.Dir(p)); err == nil {
				f, err = sh.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			}
		}
		if err != nil {
			return fmt.Errorf("saving %s: %w", name, err)
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = renameOver(sh, tmp, p)
		}
		if err != nil {
			sh.Remove(tmp)
			return fmt.Errorf("saving %s: %w", name, err)
		}
		return nil
	})
}

const shareRetries = 10

func shareBackoff(i int) time.Duration {
	return min(time.Duration(5<<i)*time.Millisecond, 100*time.Millisecond)
}

const statusSharingViolation = 0xC0000043

func sharingViolation(err error) bool {
	var re *smb2.ResponseError
	return errors.As(err, &re) && re.Code == statusSharingViolation
}

// renameOver renames tmp to p, replacing p. SMB refuses to replace a file
// that someone has open (go-smb2 opens files without FILE_SHARE_DELETE), and
// says "access denied"; when p exists, that is a reader of the same content
// holding it for a moment, so try again for up to about a second.
func renameOver(sh *smb2.Share, tmp, p string) error {
	err := sh.Rename(tmp, p)
	for i := 0; i < shareRetries && err != nil && (errors.Is(err, fs.ErrPermission) || sharingViolation(err)); i++ {
		if _, serr := sh.Stat(p); serr != nil {
			break // a real permission problem: the target is not there
		}
		time.Sleep(shareBackoff(i))
		err = sh.Rename(tmp, p)
	}
	return err
}

func (s *Store) mkdirAll(sh *smb2.Share, dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	if _, ok := s.dirs.Load(dir); ok {
		return nil
	}
	if err := s.mkdirAll(sh, path.Dir(dir)); err != nil {
		return err
	}
	err := sh.Mkdir(dir, 0o755)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	s.dirs.Store(dir, true)
	return nil
}

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, dir string, fn func(store.Info) error) error {
	p := s.join("")
	if dir != "" {
		var err error
		if p, err = s.path(dir); err != nil {
			return err
		}
	}
	if p == "" {
		p = "."
	}
	var infos []os.FileInfo
	err := s.do(ctx, func(sh *smb2.Share) error {
		var err error
		infos, err = sh.ReadDir(p)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, fi := range infos {
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := fn(store.Info{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements store.Store.
func (s *Store) Remove(ctx context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	return s.do(ctx, func(sh *smb2.Share) error { return sh.Remove(p) })
}

// Close implements store.Store.
func (s *Store) Close() error {
	for _, sl := range s.slots {
		sl.mu.Lock()
		if sl.share != nil {
			sl.share.Umount()
			sl.sess.Logoff()
			sl.conn.Close()
			sl.conn, sl.share, sl.sess = nil, nil, nil
		}
		sl.mu.Unlock()
	}
	return nil
}

// watch passes a TCP connection through and counts the SMB messages the
// server sends: plain (0xFE 'SMB') or encrypted (0xFD 'SMB', a transform
// header), so that RequireEncryption can check what really arrives.
type watch struct {
	net.Conn
	plain, encrypted atomic.Int64

	mu     sync.Mutex
	hdr    [4]byte
	hn     int
	remain int
	first  bool
}

func (w *watch) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.feed(p[:n])
	return n, err
}

// feed follows the direct-TCP framing: a 4-byte header (zero, then a 24-bit
// length), then the message.
func (w *watch) feed(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(b) > 0 {
		if w.remain == 0 {
			k := copy(w.hdr[w.hn:], b)
			w.hn += k
			b = b[k:]
			if w.hn == 4 {
				w.hn = 0
				w.remain = int(w.hdr[1])<<16 | int(w.hdr[2])<<8 | int(w.hdr[3])
				w.first = w.remain > 0
			}
			continue
		}
		if w.first {
			if b[0] == 0xFD {
				w.encrypted.Add(1)
			} else {
				w.plain.Add(1)
			}
			w.first = false
		}
		k := min(w.remain, len(b))
		w.remain -= k
		b = b[k:]
	}
}
