// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/rewind-backup/rewind/pkg/chunk"
	"github.com/rewind-backup/rewind/pkg/pack"
	"github.com/rewind-backup/rewind/pkg/store"
	"github.com/rewind-backup/rewind/pkg/store/local"
)

const testChunk = 64 << 10

func newRepo(t testing.TB) (*Repository, string) {
	t.Helper()
	return newRepoV(t, FormatVersion)
}

// formats are the repository formats tests that depend on the layout run
// over.
var formats = []int{1, 2}

func newRepoV(t testing.TB, version int) (*Repository, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Init(context.Background(), s, InitOptions{Version: version, ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func openDir(t testing.TB, dir string) *Repository {
	t.Helper()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pieces returns n chunk-sized pieces of pseudo-random data from seed.
func pieces(seed uint64, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 42))
	out := make([][]byte, n)
	for i := range out {
		p := make([]byte, testChunk)
		for j := 0; j < len(p); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				p[j+k] = byte(v >> (8 * k))
			}
		}
		out[i] = p
	}
	return out
}

// store saves the pieces as chunks and an image snapshot naming them, in
// that order, as a capture does.
func storeImage(t testing.TB, r *Repository, machine string, ps [][]byte) *Snapshot {
	t.Helper()
	ctx := context.Background()
	var c lz4.Compressor
	idx, err := r.LoadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saver := r.NewSaver(idx)
	area := Area{Offset: 1 << 20, Length: int64(len(ps)) * testChunk}
	if len(ps) > 0 {
		area.Used = []Extent{{0, area.Length}}
		area.UsedBytes = area.Length
	}
	for i, p := range ps {
		id := chunk.Hash(p)
		ref := ChunkRef{I: int64(i), ID: id}
		if chunk.IsZero(p) {
			ref.Zero = true
		} else if _, ok := idx.Lookup(id); ok {
			// stored already
		} else if err := saver.Save(ctx, pack.Data, id, chunk.Encode(&c, nil, p)); err != nil {
			t.Fatal(err)
		}
		area.Chunks = append(area.Chunks, ref)
	}
	if err := saver.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{
		Kind: KindImage, Machine: machine, Time: time.Now(), Host: "test",
		Image: &Image{ChunkSize: testChunk, Disks: []Disk{{
			Name: "sda", Size: area.Offset + area.Length, SectorSize: 512, Table: "gpt",
			Partitions: []Partition{{Index: 1, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", Mode: "used-blocks", Area: area}},
		}}},
	}
	if err := r.Locate(s.Image, idx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SaveSnapshot(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// loadByID reads blob id through the index, as a restore whose manifest's
// pack is gone does.
func loadByID(ctx context.Context, r *Repository, id chunk.ID) ([]byte, error) {
	x, err := r.LoadIndex(ctx)
	if err != nil {
		return nil, err
	}
	l, ok := x.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("chunk %s: %w", id, fs.ErrNotExist)
	}
	if !r.Packed() {
		return r.LoadChunk(ctx, id, nil)
	}
	enc, err := r.readBlob(ctx, x.Pack(l.Pack), l.Off, l.Len)
	if err != nil {
		return nil, err
	}
	return r.DecodeChunk(enc, id, nil)
}

func mustCheck(t *testing.T, r *Repository, readData bool) *CheckResult {
	t.Helper()
	res, err := r.Check(context.Background(), CheckOptions{ReadData: readData})
	if err != nil {
		t.Fatalf("Check = %v", err)
	}
	return res
}

func TestInitOpen(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	if got := openDir(t, dir).Config(); got != r.Config() {
		t.Errorf("Open().Config() = %+v, want %+v", got, r.Config())
	}
	s, _ := local.Open(dir)
	if _, err := Init(ctx, s, InitOptions{}); err == nil || !strings.Contains(err.Error(), "already holds a repository") {
		t.Errorf("Init over a repository = %v, want a refusal", err)
	}
	empty, _ := local.Open(t.TempDir())
	if _, err := Open(ctx, empty); !errors.Is(err, ErrNotRepository) || !strings.Contains(err.Error(), "rewind init") {
		t.Errorf("Open(empty folder) = %v, want ErrNotRepository pointing at rewind init", err)
	}
	for _, cs := range []int{1000, 8 << 10, 32 << 20} {
		if _, err := Init(ctx, empty, InitOptions{ChunkSize: cs}); err == nil {
			t.Errorf("Init(chunk size %d) = nil error, want one", cs)
		}
	}
}

func TestOpenDamagedConfig(t *testing.T) {
	for _, tc := range []struct {
		content, want string
	}{
		{"", "config is damaged"},
		{`{"format":"rewind","version":1,"hash":"sha256","chunk_size":1048576,"max_chunk_size":16777`, "config is damaged"},
		{"\x00\x01garbage", "config is damaged"},
		{`{"format":"restic","version":1}`, `format "restic"`},
		{`{"format":"rewind","version":9,"hash":"sha256","chunk_size":1048576,"max_chunk_size":16777216}`, "use a newer rewind"},
		{`{"format":"rewind","version":1,"hash":"md5","chunk_size":1048576,"max_chunk_size":16777216}`, `hash "md5"`},
		{`{"format":"rewind","version":1,"hash":"sha256","chunk_size":0,"max_chunk_size":16777216}`, "chunk_size 0"},
	} {
		_, dir := newRepo(t)
		os.WriteFile(filepath.Join(dir, "config"), []byte(tc.content), 0o644)
		s, _ := local.Open(dir)
		_, err := Open(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Join(dir, "config")) {
			t.Errorf("Open(config %q) = %v, want %q and the file named", tc.content, err, tc.want)
		}
	}
}

func TestChunkRoundTripAndCorruption(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepoV(t, 1)
	ps := pieces(1, 3)
	snap := storeImage(t, r, "ws1", ps)
	for _, p := range ps {
		got, err := r.LoadChunk(ctx, chunk.Hash(p), nil)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("LoadChunk = %d bytes, %v; want the stored %d", len(got), err, len(p))
		}
	}
	if res := mustCheck(t, r, true); len(res.Problems) != 0 || res.Chunks != 3 || res.Read != 3 {
		t.Fatalf("Check(read data) on a good repository = %+v, want 3 chunks read, no problems", res)
	}

	// Change one byte of a stored chunk on disk.
	bad := chunk.Hash(ps[1])
	path := filepath.Join(dir, filepath.FromSlash(chunkName(bad)))
	enc, _ := os.ReadFile(path)
	enc[len(enc)-100] ^= 0xff
	os.WriteFile(path, enc, 0o644)

	_, err := r.LoadChunk(ctx, bad, nil)
	if !errors.Is(err, chunk.ErrCorrupt) || !strings.Contains(err.Error(), bad.String()) {
		t.Errorf("LoadChunk(corrupted) = %v, want ErrCorrupt naming %s", err, bad)
	}
	if res := mustCheck(t, r, false); len(res.Problems) != 0 {
		t.Errorf("Check without read data = %v, want no problems (it does not read chunks)", res.Problems)
	}
	res := mustCheck(t, r, true)
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], bad.String()) || !strings.Contains(res.Problems[0], ShortID(snap.ID())) {
		t.Errorf("Check(read data) problems = %q, want one naming chunk %s and snapshot %s", res.Problems, bad, ShortID(snap.ID()))
	}

	// A missing chunk.
	os.Remove(path)
	res = mustCheck(t, r, false)
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "is missing") {
		t.Errorf("Check after removing a chunk = %q, want it reported missing", res.Problems)
	}
}

func TestZeroChunksNotStored(t *testing.T) {
	for _, v := range formats {
		r, _ := newRepoV(t, v)
		ps := pieces(2, 2)
		ps = append(ps, make([]byte, testChunk))
		storeImage(t, r, "ws1", ps)
		res := mustCheck(t, r, true)
		if res.Chunks != 2 || len(res.Problems) != 0 {
			t.Errorf("format %d: Check = %d chunks stored, problems %q; want 2 stored (the zero chunk not) and none", v, res.Chunks, res.Problems)
		}
		if _, err := loadByID(context.Background(), r, chunk.Hash(make([]byte, testChunk))); err == nil {
			t.Errorf("format %d: the zero chunk was stored", v)
		}
	}
}

func TestDamagedSnapshot(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"garbage", func(b []byte) []byte { return []byte("\x89PNG garbage") }},
		{"empty", func(b []byte) []byte { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, dir := newRepo(t)
			s := storeImage(t, r, "ws1", pieces(3, 2))
			path := filepath.Join(dir, "snapshots", s.ID().String())
			b, _ := os.ReadFile(path)
			os.WriteFile(path, tc.damage(b), 0o644)
			_, err := r.LoadSnapshot(ctx, s.ID())
			if err == nil || !strings.Contains(err.Error(), ShortID(s.ID())) || !strings.Contains(err.Error(), "damaged") {
				t.Errorf("LoadSnapshot(%s) = %v, want 'damaged' naming %s", tc.name, err, ShortID(s.ID()))
			}
			res := mustCheck(t, r, false)
			if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], ShortID(s.ID())) {
				t.Errorf("Check problems = %q, want the damaged snapshot named", res.Problems)
			}
			_, err = r.Prune(ctx, PruneOptions{})
			if err == nil || !strings.Contains(err.Error(), "nothing was removed") {
				t.Errorf("Prune with a damaged snapshot = %v, want a refusal", err)
			}
			if res := mustCheck(t, r, false); res.Chunks != 2 {
				t.Errorf("after the refused prune %d chunks are stored, want 2", res.Chunks)
			}
		})
	}
}

// FuzzParseSnapshot: any bytes (with their own hash as the id) are parsed
// without panic, and what is accepted passes the checks a restore relies on.
func FuzzParseSnapshot(f *testing.F) {
	r, dir := newRepo(f)
	s := storeImage(f, r, "ws1", pieces(4, 3))
	b, _ := os.ReadFile(filepath.Join(dir, "snapshots", s.ID().String()))
	f.Add(b) // format 2: chunks placed in packs
	r1, dir1 := newRepoV(f, 1)
	s1 := storeImage(f, r1, "ws1", pieces(4, 3))
	b1, _ := os.ReadFile(filepath.Join(dir1, "snapshots", s1.ID().String()))
	f.Add(b1)
	f.Add([]byte(`{"version":1,"kind":"files","machine":"m","time":"2026-01-01T00:00:00Z","files":{"tree":"` + strings.Repeat("ab", 32) + `"}}`))
	f.Add([]byte(`{"version":1,"kind":"image","machine":"m","time":"2026-01-01T00:00:00Z","image":{"chunk_size":4096,"disks":[{"size":1,"sector_size":512,"partitions":[{"offset":0,"length":1,"used":[{"off":0,"len":1}],"used_bytes":1,"chunks":[{"i":99999999999}]}]}]}}`))
	zeroHex := chunk.Hash(make([]byte, 4096)).String()
	f.Add([]byte(`{"version":1,"kind":"image","machine":"m","time":"2026-01-01T00:00:00Z","image":{"chunk_size":4096,"disks":[{"size":16384,"sector_size":512,"partitions":[{"offset":0,"length":16384,"used":[{"off":0,"len":12288}],"used_bytes":12288,"zeroed":[{"off":2048,"len":6144}],"chunks":[{"i":0,"id":"` + strings.Repeat("ab", 32) + `"},{"i":1,"id":"` + zeroHex + `","zero":true},{"i":2,"id":"` + strings.Repeat("cd", 32) + `"}]}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSnapshot(data, chunk.Hash(data), MaxChunkSize)
		if err != nil {
			return
		}
		// Accepted: every chunk must lie inside its area and disk.
		if s.Image != nil {
			for _, d := range s.Image.Disks {
				for _, p := range d.Partitions {
					// Zeroed ranges lie in order inside used ones, and a
					// chunk inside them is zeros.
					end := int64(0)
					for _, z := range p.Zeroed {
						if z.Len <= 0 || z.Off < end || Size(p.Masked(z)) != z.Len {
							t.Fatalf("accepted zeroed range %+v: empty, out of order or not all used", z)
						}
						end = z.End()
					}
					for _, c := range p.Chunks {
						if rng := p.Range(c.I, s.Image.ChunkSize); !c.Zero && len(p.Zeroed) > 0 && len(p.Data(rng)) == 0 {
							t.Fatalf("accepted stored chunk %d inside zeroed ranges", c.I)
						}
					}
					for _, c := range p.Chunks {
						rng := p.Range(c.I, s.Image.ChunkSize)
						if rng.Off < 0 || rng.Len <= 0 || rng.End() > p.Length || p.Offset+p.Length > d.Size {
							t.Fatalf("accepted chunk %d outside its area: %+v", c.I, rng)
						}
						// A restore reads a chunk where its ref says: in
						// one of the image's packs, a possible length.
						packs := len(s.Image.Packs)
						placed := c.Pack >= 1 && int(c.Pack) <= packs && c.Len >= 9 && int(c.Len) <= chunk.MaxEncodedLen(s.Image.ChunkSize)
						if !c.Zero && packs > 0 && !placed || packs == 0 && c.Pack != 0 {
							t.Fatalf("accepted chunk %d placed at pack %d of %d, %d bytes", c.I, c.Pack, packs, c.Len)
						}
					}
				}
			}
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"format":"rewind","version":1,"id":"x","hash":"sha256","chunk_size":1048576,"max_chunk_size":16777216}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err == nil && (cfg.ChunkSize < 1 || cfg.ChunkSize > cfg.MaxChunkSize || cfg.MaxChunkSize > 256<<20) {
			t.Fatalf("ParseConfig accepted %+v", cfg)
		}
	})
}

func TestPrune(t *testing.T) {
	for _, v := range formats {
		t.Run(fmt.Sprintf("format%d", v), func(t *testing.T) { testPrune(t, v) })
	}
}

func testPrune(t *testing.T, version int) {
	ctx := context.Background()
	r, dir := newRepoV(t, version)
	folder := "chunks"
	if version >= 2 {
		folder = "packs"
	}
	all := pieces(5, 6)
	old := storeImage(t, r, "ws1", all[:4])
	storeImage(t, r, "ws1", all[2:]) // shares two chunks with old
	// A leftover temporary file from a crashed write, two days old, and a
	// fresh one that may belong to a write in progress.
	oldTmp := filepath.Join(dir, folder, "00", ".tmp-123")
	os.MkdirAll(filepath.Dir(oldTmp), 0o755)
	os.WriteFile(oldTmp, []byte("x"), 0o644)
	twoDays := time.Now().Add(-48 * time.Hour)
	os.Chtimes(oldTmp, twoDays, twoDays)
	newTmp := filepath.Join(dir, folder, "01", ".tmp-456")
	os.MkdirAll(filepath.Dir(newTmp), 0o755)
	os.WriteFile(newTmp, []byte("x"), 0o644)

	if err := r.RemoveSnapshots(ctx, []*Snapshot{old}); err != nil {
		t.Fatal(err)
	}
	dry, err := r.Prune(ctx, PruneOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Removed != 2 || dry.Temps != 1 {
		t.Errorf("Prune(dry run) = %+v, want 2 chunks and 1 temporary to remove", dry)
	}
	if res := mustCheck(t, r, false); res.Chunks != 6 {
		t.Fatalf("dry run removed chunks: %d left, want 6", res.Chunks)
	}
	res, err := r.Prune(ctx, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 2 || res.KeptChunks != 4 || res.Temps != 1 {
		t.Errorf("Prune = %+v, want 2 removed, 4 kept, 1 temporary", res)
	}
	for i, p := range all {
		_, err := loadByID(ctx, r, chunk.Hash(p))
		if wantGone := i < 2; wantGone != (err != nil) {
			t.Errorf("chunk %d after prune: err = %v, want gone = %v", i, err, wantGone)
		}
	}
	if _, err := os.Stat(oldTmp); err == nil {
		t.Errorf("prune left the two-day-old temporary file")
	}
	if _, err := os.Stat(newTmp); err != nil {
		t.Errorf("prune removed a fresh temporary file: %v", err)
	}
	if res := mustCheck(t, r, true); len(res.Problems) != 0 {
		t.Errorf("Check after prune = %q", res.Problems)
	}
}

func TestLocks(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	me := Locker{Host: "tech-laptop", PID: 100, Alive: func(int) bool { return true }}
	other := Locker{Host: "ws1", PID: 200, Alive: func(int) bool { return true }}

	shared, err := r.Lock(ctx, false, "capture", "ws1", 0, other)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := r.Lock(ctx, false, "restore", "ws2", 0, me); err != nil {
		t.Errorf("a second shared lock = %v, want it granted", err)
	} else {
		l.Unlock(ctx)
	}
	_, err = r.Lock(ctx, true, "prune", "", 0, me)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "capture on ws1 (pid 200)") {
		t.Errorf("exclusive lock while a capture runs = %v, want ErrLocked naming the capture", err)
	}
	if _, err := r.Prune(ctx, PruneOptions{Locker: me}); !errors.Is(err, ErrLocked) {
		t.Errorf("Prune while a capture runs = %v, want ErrLocked", err)
	}
	// Waiting: the prune waits on a clock of the test's, which moves only
	// when the test says, and the capture ends while the prune waits.
	ex := waitForLock(t, r, me, shared)
	if _, err := r.Lock(ctx, false, "capture", "ws1", 0, other); !errors.Is(err, ErrLocked) {
		t.Errorf("shared lock during prune = %v, want ErrLocked", err)
	}
	ex.Unlock(ctx)
	locks, _ := r.Locks(ctx)
	if len(locks) != 0 {
		t.Errorf("locks left after unlocking: %v", locks)
	}
}

// waitForLock takes an exclusive lock for who with a wait of 30 seconds while
// holder is held, and checks that it waits: refused and waiting while holder
// is held, even after trying again, and granted only once holder is
// released. The wait runs on a fake clock whose timer fires when the test
// says, so the order is certain, not a matter of timing.
func waitForLock(t *testing.T, r *Repository, who Locker, holder *Lock) *Lock {
	t.Helper()
	ctx := context.Background()
	// Others judge staleness on the system clock; this one stands still.
	start := time.Now()
	waits := make(chan time.Duration) // the waiter asks for a timer: it was refused
	fire := make(chan time.Time)      // the timer fires: the waiter tries again
	who.Now = func() time.Time { return start }
	who.After = func(d time.Duration) <-chan time.Time {
		waits <- d
		return fire
	}
	type result struct {
		l   *Lock
		err error
	}
	done := make(chan result, 1)
	go func() {
		l, err := r.Lock(ctx, true, "prune", "", 30*time.Second, who)
		done <- result{l, err}
	}()
	// next returns the waiter's next timer, or fails the test if Lock
	// returned instead.
	next := func(when string) time.Duration {
		t.Helper()
		select {
		case d := <-waits:
			return d
		case res := <-done:
			if res.l != nil {
				res.l.Unlock(ctx)
			}
			t.Fatalf("exclusive lock with wait %s = %v, %v; want it still waiting", when, res.l, res.err)
			return 0
		}
	}
	for i, want := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond} {
		if d := next(fmt.Sprintf("while the capture holds its lock (try %d)", i+1)); d != want {
			t.Errorf("wait before try %d = %v, want %v", i+2, d, want)
		}
		if i == 0 {
			fire <- start // tries again with the capture still there
		}
	}
	if err := holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	fire <- start
	select {
	case d := <-waits:
		t.Fatalf("exclusive lock with wait still waiting (for %v more) after the capture released its lock", d)
		return nil
	case res := <-done:
		if res.err != nil {
			t.Fatalf("exclusive lock with wait = %v, want it granted once the capture ends", res.err)
		}
		if !res.l.info.Time.Equal(start) {
			t.Errorf("lock dated %v, want %v from the Locker's clock", res.l.info.Time, start)
		}
		return res.l
	}
}

func TestStaleLocks(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	now := time.Now()
	dead := Locker{Host: "tech-laptop", PID: 300, Now: func() time.Time { return now }}
	if _, err := r.Lock(ctx, false, "capture", "ws1", 0, dead); err != nil {
		t.Fatal(err)
	}
	// The same host, the pid gone: stale.
	me := Locker{Host: "tech-laptop", PID: 301, Alive: func(pid int) bool { return pid != 300 }}
	if l, err := r.Lock(ctx, true, "prune", "", 0, me); err != nil {
		t.Errorf("exclusive lock over a dead process's lock = %v, want it granted", err)
	} else {
		l.Unlock(ctx)
	}
	// Another host, refreshed recently: not stale; an hour later: stale.
	remote := Locker{Host: "elsewhere", PID: 1, Alive: func(int) bool { return true }, Now: func() time.Time { return now }}
	if !(Locker{Host: "x", Now: func() time.Time { return now.Add(time.Hour) }}).Stale(LockInfo{Host: "y", Time: now}) {
		t.Errorf("a lock not refreshed for an hour is not stale")
	}
	if (remote).Stale(LockInfo{Host: "y", PID: 5, Time: now}) {
		t.Errorf("a fresh lock of another host is stale")
	}
	n, err := r.RemoveStaleLocks(ctx, me)
	if err != nil || n != 1 {
		t.Errorf("RemoveStaleLocks = %d, %v; want 1", n, err)
	}
}

func TestPolicy(t *testing.T) {
	base := time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC) // a Thursday
	var snaps []*Snapshot
	// One snapshot a day for 30 days, newest first in the names.
	for d := range 30 {
		snaps = append(snaps, &Snapshot{Machine: "ws1", Kind: KindImage, Time: base.AddDate(0, 0, -d), Note: fmt.Sprint(d)})
	}
	names := func(ss []*Snapshot) string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Note)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		p    Policy
		keep string
	}{
		{Policy{Last: 3}, "0,1,2"},
		{Policy{Daily: 2}, "0,1"},
		// Newest of each ISO week: Thu 26 (W48), Sun 22 (W47), Sun 15 (W46).
		{Policy{Weekly: 3}, "0,4,11"},
		{Policy{Last: 1, Weekly: 2}, "0,4"},
		{Policy{Monthly: 2}, "0,26"},
	} {
		keep, remove := tc.p.Apply(snaps, time.UTC)
		if got := names(keep); got != tc.keep {
			t.Errorf("%+v.Apply(30 daily) keeps %s, want %s", tc.p, got, tc.keep)
		}
		if len(keep)+len(remove) != 30 {
			t.Errorf("%+v.Apply(30 daily): %d kept + %d removed, want 30", tc.p, len(keep), len(remove))
		}
	}
}

func TestForget(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	for i := range 4 {
		storeImage(t, r, "ws1", pieces(uint64(10+i), 1))
		time.Sleep(5 * time.Millisecond)
	}
	storeImage(t, r, "ws2", pieces(20, 1))
	if _, err := r.Forget(ctx, "ws1", Policy{}, false); err == nil {
		t.Errorf("Forget with an empty policy = nil error, want a refusal")
	}
	if _, err := r.Forget(ctx, "nobody", Policy{Last: 1}, false); err == nil {
		t.Errorf("Forget(unknown machine) = nil error, want one")
	}
	res, err := r.Forget(ctx, "ws1", Policy{Last: 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Keep) != 2 || len(res.Remove) != 2 {
		t.Errorf("Forget(ws1, last 2) kept %d removed %d, want 2 and 2", len(res.Keep), len(res.Remove))
	}
	snaps, _ := r.Snapshots(ctx, nil)
	if len(snaps) != 3 {
		t.Errorf("%d snapshots left, want 3 (2 of ws1, ws2's untouched)", len(snaps))
	}
	pr, err := r.Prune(ctx, PruneOptions{})
	if err != nil || pr.Removed != 2 {
		t.Errorf("Prune after forget = %+v, %v; want 2 chunks removed", pr, err)
	}
}

// The helper process: when REWIND_TEST_WRITER is set, the test binary acts
// as a capture writing chunks and a snapshot into a repository, so that
// tests can run several at once or kill one.
func TestMain(m *testing.M) {
	if spec := os.Getenv("REWIND_TEST_PRUNE"); spec != "" {
		if err := pruner(spec); err != nil {
			fmt.Fprintln(os.Stderr, "pruner:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv("REWIND_TEST_WRITER"); spec != "" {
		if err := writer(spec); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// writer: "DIR SEED FIRST COUNT MACHINE" stores pieces FIRST..FIRST+COUNT of
// the sequence from SEED, then a snapshot.
func writer(spec string) error {
	var dir, machine string
	var seed uint64
	var first, count int
	if _, err := fmt.Sscan(spec, &dir, &seed, &first, &count, &machine); err != nil {
		return err
	}
	ctx := context.Background()
	s, err := local.Open(dir)
	if err != nil {
		return err
	}
	r, err := Open(ctx, s)
	if err != nil {
		return err
	}
	lock, err := r.Lock(ctx, false, "capture", machine, time.Minute, Locker{})
	if err != nil {
		return err
	}
	defer lock.Unlock(ctx)
	ps := pieces(seed, first+count)[first:]
	snap := storeImageErr(r, machine, ps)
	fmt.Println(snap)
	return nil
}

func storeImageErr(r *Repository, machine string, ps [][]byte) string {
	t := &errT{}
	s := storeImage(t, r, machine, ps)
	if t.err != nil {
		return t.err.Error()
	}
	return s.ID().String()
}

// errT lets storeImage run outside a test.
type errT struct {
	testing.TB
	err error
}

func (e *errT) Helper()                   {}
func (e *errT) Fatal(args ...any)         { e.err = fmt.Errorf("%v", args); panic(e.err) }
func (e *errT) Fatalf(f string, a ...any) { e.err = fmt.Errorf(f, a...); panic(e.err) }

func writerCmd(t *testing.T, dir string, seed uint64, first, count int, machine string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("REWIND_TEST_WRITER=%s %d %d %d %s", dir, seed, first, count, machine))
	cmd.Stderr = os.Stderr
	return cmd
}

func TestConcurrentWriters(t *testing.T) {
	r, dir := newRepo(t)
	// Two captures with 40 chunks in common out of 60 each.
	a := writerCmd(t, dir, 7, 0, 60, "ws1")
	b := writerCmd(t, dir, 7, 20, 60, "ws2")
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err != nil {
		t.Errorf("writer a: %v", err)
	}
	if err := b.Wait(); err != nil {
		t.Errorf("writer b: %v", err)
	}
	res := mustCheck(t, r, true)
	if len(res.Problems) != 0 || res.Snapshots != 2 || res.Chunks != 80 {
		t.Errorf("Check after two concurrent writers = %+v, want 2 snapshots, 80 chunks, no problems", res)
	}
}

// TestKilledWriter kills a capture-like writer at 20 random moments of its
// run: the repository is clean by check --read-data after each kill, and a
// run to the end completes with everything stored.
func TestKilledWriter(t *testing.T) {
	for _, v := range formats {
		t.Run(fmt.Sprintf("format%d", v), func(t *testing.T) { testKilledWriter(t, v) })
	}
}

func testKilledWriter(t *testing.T, version int) {
	r, dir := newRepoV(t, version)
	// How long a whole run takes, into a repository of its own.
	_, other := newRepoV(t, version)
	start := time.Now()
	if out, err := writerCmd(t, other, 9, 0, 400, "ws1").Output(); err != nil {
		t.Fatalf("undisturbed writer: %v %s", err, out)
	}
	full := time.Since(start)
	rng := rand.New(rand.NewPCG(uint64(version), 5))
	kills := 20
	if version == 1 {
		kills = 5 // format 1 has been killed this way for a long time
	}
	for i := range kills {
		cmd := writerCmd(t, dir, 9, 0, 400, "ws1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(full))))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		res := mustCheck(t, r, true)
		if len(res.Problems) != 0 {
			t.Fatalf("kill %d: Check after SIGKILL = %q, want a valid repository", i, res.Problems)
		}
		if i%5 == 0 {
			t.Logf("kill %d: %d chunks, %d snapshots", i, res.Chunks, res.Snapshots)
		}
	}
	// The next run completes (the dead writers' locks are stale: same
	// host, process gone).
	again := writerCmd(t, dir, 9, 0, 400, "ws1")
	if out, err := again.Output(); err != nil {
		t.Fatalf("writer after the kills: %v %s", err, out)
	}
	res := mustCheck(t, r, true)
	if len(res.Problems) != 0 || res.Snapshots < 1 || res.Chunks != 400 {
		t.Errorf("Check after the last run = %+v, want a snapshot and 400 chunks", res)
	}
	// Prune leaves exactly what the snapshots need.
	if _, err := r.Prune(context.Background(), PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	// Temporaries of the killed writes are left: they are less than a day
	// old, and prune cannot tell them from writes in progress.
	res = mustCheck(t, r, true)
	if len(res.Problems) != 0 || res.Chunks != 400 || len(res.Warnings) > 1 || len(res.Warnings) == 1 && !strings.Contains(res.Warnings[0], "temporary files") {
		t.Errorf("Check after prune = %+v, want 400 chunks and nothing to say but temporaries", res)
	}
}

func TestUnreadableLock(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	bad := filepath.Join(dir, "locks", "0123456789abcdef")
	os.WriteFile(bad, []byte("{garbage"), 0o644)
	_, err := r.Lock(ctx, false, "capture", "ws1", 0, Locker{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "unreadable lock file") {
		t.Errorf("Lock with an unreadable lock file present = %v, want ErrLocked naming it", err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(bad, old, old)
	l, err := r.Lock(ctx, false, "capture", "ws1", 0, Locker{})
	if err != nil {
		t.Fatalf("Lock with an hour-old unreadable lock file = %v, want it taken for stale", err)
	}
	l.Unlock(ctx)
}

func FuzzParseLock(f *testing.F) {
	f.Add([]byte(`{"exclusive":true,"op":"prune","host":"nas","pid":7,"time":"2026-11-26T10:00:00Z"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseLock(data)
		if err == nil && (info.Time.IsZero() || info.Host == "" || info.Op == "") {
			t.Fatalf("ParseLock accepted %+v", info)
		}
	})
}

func TestReports(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	start := time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)
	for i, ok := range []bool{false, true} {
		_, err := r.SaveReport(ctx, &Report{Task: "restore", Machine: "ws1", Time: start.Add(time.Duration(i) * time.Minute), OK: ok, Error: map[bool]string{false: "NAS unreachable"}[ok], Result: []byte(`{"written_bytes":42}`)})
		if err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "reports", "ws1", "garbage.json"), []byte("{"), 0o644)
	reps, err := r.Reports(ctx, "ws1")
	if err != nil {
		t.Fatal(err)
	}
	var result bytes.Buffer
	if len(reps) == 2 {
		json.Compact(&result, reps[1].Result)
	}
	if len(reps) != 2 || reps[0].OK || !reps[1].OK || result.String() != `{"written_bytes":42}` {
		t.Errorf("Reports(ws1) = %+v, want the failed one, then the good one with its result", reps)
	}
	if _, err := r.SaveReport(ctx, &Report{Task: "../x", Machine: "ws1", Time: start}); err == nil {
		t.Errorf("SaveReport with a task of ../x = nil error")
	}
	// Reports are not chunks nor snapshots: check and prune leave them be.
	if res := mustCheck(t, r, false); len(res.Problems) != 0 || len(res.Warnings) != 0 {
		t.Errorf("Check with reports = %+v", res)
	}
	if _, err := r.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	if reps, _ := r.Reports(ctx, "ws1"); len(reps) != 2 {
		t.Errorf("prune removed reports: %d left", len(reps))
	}
}

// TestPackCorruption: in format 2, a changed byte in a pack is found by
// check --read-data, named with its chunk and the snapshot that needs it,
// and refused by a read; a pack that is gone makes its chunks missing.
func TestPackCorruption(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepoV(t, 2)
	ps := pieces(1, 3)
	snap := storeImage(t, r, "ws1", ps)
	img := snap.Image
	refs := img.Disks[0].Partitions[0].Chunks
	for i, ref := range refs {
		got, err := r.LoadRef(ctx, img, ref, nil)
		if err != nil || !bytes.Equal(got, ps[i]) {
			t.Fatalf("LoadRef(chunk %d) = %d bytes, %v; want the stored %d", i, len(got), err, len(ps[i]))
		}
	}
	// Two packs: the chunks', and the one of the image's chunk lists.
	if res := mustCheck(t, r, true); len(res.Problems) != 0 || res.Chunks != 3 || res.Read != 3 || res.Packs != 2 {
		t.Fatalf("Check(read data) on a good repository = %+v, want 2 packs, 3 chunks read, no problems", res)
	}
	bad := refs[1]
	path := filepath.Join(dir, filepath.FromSlash(packName(img.Packs[bad.Pack-1])))
	data, _ := os.ReadFile(path)
	data[int(bad.Off)+int(bad.Len)-100] ^= 0xff
	os.WriteFile(path, data, 0o644)

	if _, err := r.LoadRef(ctx, img, bad, nil); !errors.Is(err, chunk.ErrCorrupt) || !strings.Contains(err.Error(), bad.ID.String()) {
		t.Errorf("LoadRef(corrupted) = %v, want ErrCorrupt naming %s", err, bad.ID)
	}
	if res := mustCheck(t, r, false); len(res.Problems) != 0 {
		t.Errorf("Check without read data = %v, want no problems (it does not read packs)", res.Problems)
	}
	res := mustCheck(t, r, true)
	if pk := img.Packs[bad.Pack-1]; len(res.Problems) != 2 || !strings.Contains(res.Problems[0], pk.String()) || !strings.Contains(res.Problems[0], "damaged") ||
		!strings.Contains(res.Problems[1], bad.ID.String()) || !strings.Contains(res.Problems[1], ShortID(snap.ID())) {
		t.Errorf("Check(read data) problems = %q, want pack %s damaged, then chunk %s that snapshot %s needs", res.Problems, pk, bad.ID, ShortID(snap.ID()))
	}
	if _, err := r.Prune(ctx, PruneOptions{}); err != nil {
		t.Errorf("Prune with nothing to repack = %v", err)
	}

	os.Remove(path)
	res = mustCheck(t, r, false)
	if len(res.Problems) != 3 || !strings.Contains(res.Problems[0], "missing") || !strings.Contains(res.Problems[0], ShortID(snap.ID())) {
		t.Errorf("Check after removing the pack = %q, want its chunks missing for snapshot %s", res.Problems, ShortID(snap.ID()))
	}
	if _, err := r.LoadRef(ctx, img, bad, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadRef(pack gone) = %v, want fs.ErrNotExist", err)
	}
}

// TestCheckBlame: check names the snapshot that first needs each missing
// blob (ten a snapshot, the rest counted) and each damaged one, says when
// no snapshot needs a damaged blob, and warns of an index that lists a
// pack that is gone and of packs in no index.
func TestCheckBlame(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepoV(t, 2)
	ps := pieces(7, 12)
	first := storeImage(t, r, "ws1", ps)
	second := storeImage(t, r, "ws1", ps) // the same chunks, stored once
	gone := storeImage(t, r, "ws2", pieces(8, 2))
	if err := r.RemoveSnapshotID(ctx, gone.ID()); err != nil {
		t.Fatal(err)
	}
	packPath := func(img *Image, ref ChunkRef) string {
		return filepath.Join(dir, filepath.FromSlash(packName(img.Packs[ref.Pack-1])))
	}
	// A damaged blob that no snapshot needs any more.
	unneeded := gone.Image.Disks[0].Partitions[0].Chunks[0]
	data, _ := os.ReadFile(packPath(gone.Image, unneeded))
	data[int(unneeded.Off)+int(unneeded.Len)-10] ^= 0xff
	os.WriteFile(packPath(gone.Image, unneeded), data, 0o644)
	// The pack of the first image's chunks, gone.
	refs := first.Image.Disks[0].Partitions[0].Chunks
	os.Remove(packPath(first.Image, refs[0]))

	res := mustCheck(t, r, true)
	want := []string{"is damaged: content hashes to"} // the pack, then what it holds
	for range 10 {
		want = append(want, "is missing; snapshot "+ShortID(first.ID())+" of ws1")
	}
	want = append(want, "2 more chunks are missing that snapshot "+ShortID(first.ID()), "no snapshot needs it, prune removes it")
	if len(res.Problems) != len(want) {
		t.Fatalf("Check = problems %q, want %d", res.Problems, len(want))
	}
	for i, w := range want {
		if !strings.Contains(res.Problems[i], w) || strings.Contains(res.Problems[i], ShortID(second.ID())) {
			t.Errorf("problem %d = %q, want %q (the first snapshot needing it)", i, res.Problems[i], w)
		}
	}
	if !strings.Contains(res.Problems[12], unneeded.ID.String()) || !strings.Contains(res.Problems[0], "0 chunks that snapshots need") {
		t.Errorf("problems 0 and 12 = %q, %q; want the pack with 0 chunks that snapshots need, then chunk %s", res.Problems[0], res.Problems[12], unneeded.ID)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "which is gone") }) {
		t.Errorf("Check warnings = %q, want the index listing a pack that is gone", res.Warnings)
	}

	// Without index files, each pack tells what it holds.
	files, _ := os.ReadDir(filepath.Join(dir, "index"))
	for _, f := range files {
		os.Remove(filepath.Join(dir, "index", f.Name()))
	}
	res = mustCheck(t, r, true)
	if len(res.Problems) != 13 || res.Chunks != 2 || !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "packs are in no index") }) {
		t.Errorf("Check without index files = %d problems, %d chunks, warnings %q; want 13, 2 (ws2's), packs in no index", len(res.Problems), res.Chunks, res.Warnings)
	}
}

// TestRepackKeepsRestores: after a prune moves a snapshot's chunks to a new
// pack, the snapshot's manifest still names the old one; reads find the
// chunks through the index, and check --read-data is clean.
func TestRepackKeepsRestores(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepoV(t, 2)
	all := pieces(8, 8)
	old := storeImage(t, r, "ws1", all)
	keep := storeImage(t, r, "ws2", all[6:]) // two of eight chunks: the pack is mostly unused once old goes
	if err := r.RemoveSnapshots(ctx, []*Snapshot{old}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Prune(ctx, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Blobs: the chunk lists count, one per snapshot.
	if res.Repacked != 1 || res.RemovedPacks != 1 || res.Removed != 6 || res.KeptChunks != 2 {
		t.Errorf("Prune = %+v, want 1 pack repacked and old's lists' removed, 6 chunks removed, 2 kept", res)
	}
	for i, ref := range keep.Image.Disks[0].Partitions[0].Chunks {
		got, err := r.LoadRef(ctx, keep.Image, ref, nil)
		if err != nil || !bytes.Equal(got, all[6+i]) {
			t.Errorf("LoadRef(chunk %d) after repack = %d bytes, %v", i, len(got), err)
		}
	}
	if res := mustCheck(t, r, true); len(res.Problems) != 0 || len(res.Warnings) != 0 || res.Packs != 2 || res.Chunks != 2 {
		t.Errorf("Check after repack = %+v, want 2 chunks in a pack (and a pack of lists), no problems or warnings", res)
	}
}

// TestRelocateAfterAnotherPrune: a Repository keeps the index it read to
// find repacked chunks; when a later prune has moved them again, its
// answer is gone too, and the index is read again (TestKilledPrune met
// this at random: a restore after two prunes through one Repository).
func TestRelocateAfterAnotherPrune(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepoV(t, 2)
	all := pieces(8, 8)
	old := storeImage(t, r, "ws1", all)
	keep := storeImage(t, r, "ws2", all[6:])
	if err := r.RemoveSnapshots(ctx, []*Snapshot{old}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	checkRestores(t, r, keep, all[6:]) // reads the index, and keeps it
	// What it kept, as a prune since would have made it: every blob in a
	// pack that is gone.
	stale := newIndex()
	var blobs []pack.Blob
	for _, c := range keep.Image.Disks[0].Partitions[0].Chunks {
		if l, ok := r.fallback.Lookup(c.ID); ok {
			blobs = append(blobs, pack.Blob{ID: c.ID, Offset: l.Off, Length: l.Len})
		}
	}
	if len(blobs) == 0 {
		t.Fatal("the restore read no index to find its repacked chunks")
	}
	stale.addPack(chunk.Hash([]byte("a pack pruned since")), blobs)
	r.fallback = stale
	checkRestores(t, r, keep, all[6:])
}

// slowWrites delays every save and removal, so that a kill lands in the
// middle of a prune's steps.
type slowWrites struct {
	store.Store
	delay time.Duration
}

func (s slowWrites) Save(ctx context.Context, name string, data []byte) error {
	time.Sleep(s.delay)
	return s.Store.Save(ctx, name, data)
}

func (s slowWrites) Remove(ctx context.Context, name string) error {
	time.Sleep(s.delay)
	return s.Store.Remove(ctx, name)
}

// pruner: "DIR" prunes the repository in DIR, slowly.
func pruner(dir string) error {
	s, err := local.Open(dir)
	if err != nil {
		return err
	}
	r, err := Open(context.Background(), slowWrites{s, 5 * time.Millisecond})
	if err != nil {
		return err
	}
	_, err = r.Prune(context.Background(), PruneOptions{})
	return err
}

// TestKilledPrune kills a prune (removing two of three machines' images:
// packs to drop and packs to repack) at 20 random moments. Each time the
// repository is clean by check --read-data and what is left restores; the
// prune run again completes.
func TestKilledPrune(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 12))
	// How long an undisturbed prune takes, to spread the kills over it.
	setup := func() (*Repository, string, *Snapshot, [][]byte) {
		r, dir := newRepoV(t, 2)
		r.cfg.PackSize = 1 << 20 // many small packs: many steps to land in
		all := pieces(21, 48)
		a := storeImage(t, r, "ws1", all[:32])
		b := storeImage(t, r, "ws2", all[16:])
		keep := storeImage(t, r, "ws3", all[28:36])
		if err := r.RemoveSnapshots(ctx, []*Snapshot{a, b}); err != nil {
			t.Fatal(err)
		}
		return r, dir, keep, all[28:36]
	}
	_, dir, _, _ := setup()
	start := time.Now()
	if out, err := pruneCmd(dir).CombinedOutput(); err != nil {
		t.Fatalf("undisturbed prune: %v %s", err, out)
	}
	full := time.Since(start)
	t.Logf("an undisturbed prune takes %v", full)
	for i := range 20 {
		r, dir, keep, want := setup()
		cmd := pruneCmd(dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(full))))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		res := mustCheck(t, r, true)
		if len(res.Problems) != 0 {
			t.Fatalf("kill %d: Check after SIGKILL = %q", i, res.Problems)
		}
		checkRestores(t, r, keep, want)
		if _, err := r.Prune(ctx, PruneOptions{}); err != nil {
			t.Fatalf("kill %d: prune after the kill = %v", i, err)
		}
		// A pack or index the kill cut off mid-write stays as a temporary
		// file until it is a day old (a live writer's could look the same):
		// that warning is expected, nothing else.
		if res := mustCheck(t, r, true); len(res.Problems) != 0 || !onlyTempWarnings(res.Warnings) || res.Chunks != len(want) {
			t.Fatalf("kill %d: Check after the second prune = %+v, want %d chunks and nothing to say but leftover temporary files", i, res, len(want))
		}
		checkRestores(t, r, keep, want)
	}
}

// onlyTempWarnings reports whether every warning is about temporary files
// left by interrupted writes.
func onlyTempWarnings(ws []string) bool {
	for _, w := range ws {
		if !strings.Contains(w, "temporary files") {
			return false
		}
	}
	return true
}

func pruneCmd(dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "REWIND_TEST_PRUNE="+dir)
	return cmd
}

// checkRestores reads every chunk of snapshot s as a restore does and
// compares it with ps.
func checkRestores(t *testing.T, r *Repository, s *Snapshot, ps [][]byte) {
	t.Helper()
	for i, ref := range s.Image.Disks[0].Partitions[0].Chunks {
		got, err := r.LoadRef(context.Background(), s.Image, ref, nil)
		if err != nil || !bytes.Equal(got, ps[i]) {
			t.Fatalf("chunk %d of %s reads %d bytes, %v; want what was stored", i, ShortID(s.ID()), len(got), err)
		}
	}
}

// TestCaptureDuringPrune: a capture started while a prune holds its
// exclusive lock waits for it and then completes; the repository is clean
// and both what prune kept and what the capture stored read back.
func TestCaptureDuringPrune(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepoV(t, 2)
	r.cfg.PackSize = 1 << 20
	all := pieces(41, 40)
	old := storeImage(t, r, "ws1", all[:30])
	keep := storeImage(t, r, "ws2", all[25:35])
	if err := r.RemoveSnapshots(ctx, []*Snapshot{old}); err != nil {
		t.Fatal(err)
	}
	prune := pruneCmd(dir)
	if err := prune.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait (bounded) for the prune's exclusive lock.
	locked := false
	for deadline := time.Now().Add(30 * time.Second); !locked && time.Now().Before(deadline); {
		locks, _ := r.Locks(ctx)
		for _, l := range locks {
			locked = locked || l.Exclusive
		}
		if !locked {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if !locked {
		prune.Process.Kill()
		prune.Wait()
		t.Fatal("the prune never took its lock")
	}
	// A capture of other data and of some the prune is removing.
	out, err := writerCmd(t, dir, 41, 20, 20, "ws3").Output()
	if err != nil {
		t.Fatalf("capture during prune: %v", err)
	}
	if err := prune.Wait(); err != nil {
		t.Fatalf("prune: %v", err)
	}
	res := mustCheck(t, r, true)
	if len(res.Problems) != 0 || res.Snapshots != 2 {
		t.Fatalf("Check after a capture during a prune = %+v, want 2 snapshots and no problems", res)
	}
	checkRestores(t, r, keep, all[25:35])
	id, err := chunk.ParseID(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("the capture said %q, not a snapshot id", out)
	}
	snap, err := r.LoadSnapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	checkRestores(t, r, snap, all[20:40])
}
