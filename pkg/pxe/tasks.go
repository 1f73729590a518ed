// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rewind-backup/rewind/pkg/config"
	"github.com/rewind-backup/rewind/pkg/internal/fsync"
)

// Task is what one machine, known by its MAC address, does when it boots
// from the network.
type Task struct {
	MAC     string      `json:"mac"` // aa:bb:cc:dd:ee:ff, lower case
	Machine string      `json:"machine"`
	Task    config.Task `json:"task"` // restore, capture or wizard
	Image   string      `json:"image,omitempty"`
	// Files is what a restore replays after the image (rewind.files):
	// latest if empty, none, or a file snapshot id.
	Files string `json:"files,omitempty"`
	// Target is the disk to write or read (rewind.target); "only" if empty.
	Target string       `json:"target,omitempty"`
	After  config.After `json:"after,omitempty"`
	// Once clears the task when the environment reports it done.
	Once bool `json:"once,omitempty"`
	// Repo and PasswordFile override the server's --repo and
	// --password-file for this machine.
	Repo         string    `json:"repo,omitempty"`
	PasswordFile string    `json:"password_file,omitempty"`
	Added        time.Time `json:"added"`
}

// Result is what the environment reported when a task was over.
type Result struct {
	MAC     string          `json:"mac"`
	Machine string          `json:"machine,omitempty"`
	Task    config.Task     `json:"task,omitempty"`
	OK      bool            `json:"ok"`
	Time    time.Time       `json:"time"`
	From    string          `json:"from,omitempty"` // the reporting address
	Report  json.RawMessage `json:"report,omitempty"`
	// Cleared says that the report cleared a one-shot task.
	Cleared bool `json:"cleared,omitempty"`
}

// TasksFile is the tasks file's content.
type TasksFile struct {
	Version   int        `json:"version"`
	Tasks     []Task     `json:"tasks"`
	Schedules []Schedule `json:"schedules,omitempty"`
	Results   []Result   `json:"results,omitempty"` // the last per MAC
}

// tasksVersion is the tasks file's format version.
const tasksVersion = 1

// maxTasksFile bounds the tasks file: it holds a line or two per machine.
const maxTasksFile = 4 << 20

// maxReport bounds a result report kept in the tasks file.
const maxReport = 16 << 10

// ErrTask marks a bad task or tasks file.
var ErrTask = errors.New("bad task")

// ParseMAC reads a MAC address as people write it (aa:bb:.., AA-BB-..,
// aabb.ccdd.eeff) and returns it in the tasks file's form.
func ParseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("MAC address %s is not six bytes like 52:54:00:12:34:56: %w", safeText(s), ErrTask)
	}
	return hw.String(), nil
}

// Check reports what is wrong with t, in words for the command line.
func (t Task) Check() error {
	if _, err := ParseMAC(t.MAC); err != nil {
		return err
	}
	if t.Machine == "" && t.Task != config.TaskWizard {
		return fmt.Errorf("task %s for %s needs --machine NAME: %w", t.Task, t.MAC, ErrTask)
	}
	if strings.ContainsAny(t.Machine+t.Image+t.Target+t.Repo, " \t\n\"") {
		return fmt.Errorf("task for %s: machine, image, target and repo cannot hold spaces or quotes (they go on the kernel command line): %w", t.MAC, ErrTask)
	}
	if t.Files != "" {
		if _, err := config.ParseFiles(t.Files); err != nil {
			return fmt.Errorf("--files for %s: %v: %w", t.MAC, err, ErrTask)
		}
	}
	if !slices.Contains([]config.Task{config.TaskRestore, config.TaskCapture, config.TaskWizard}, t.Task) {
		return fmt.Errorf("task %q for %s is not one of restore, capture, wizard: %w", t.Task, t.MAC, ErrTask)
	}
	if t.After != "" && !slices.Contains([]config.After{config.AfterWait, config.AfterReboot, config.AfterPoweroff}, t.After) {
		return fmt.Errorf("--then %q for %s is not one of wait, reboot, poweroff: %w", t.After, t.MAC, ErrTask)
	}
	return nil
}

// Tasks is the tasks file on disk. The server reads it through Get, which
// re-reads the file when it changed (its size, time or inode), so that
// `rewind pxe task add` takes effect without a restart; writers go through
// Update, which serializes them with a lock file beside it and replaces the
// file atomically (a temporary file, fsync, rename, fsync of the folder),
// so a reader never sees half a file. Its methods may be called
// concurrently.
type Tasks struct {
	path string

	mu    sync.Mutex
	stamp fileStamp
	file  TasksFile
}

// OpenTasks returns the tasks file at path. A missing file is an empty
// one; it is created by the first Update.
func OpenTasks(path string) *Tasks { return &Tasks{path: path} }

// Path is the tasks file's path.
func (t *Tasks) Path() string { return t.path }

type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
	ok    bool
}

func (a fileStamp) same(b fileStamp) bool {
	return a.ok && b.ok && a.size == b.size && a.mtime.Equal(b.mtime) && a.ino == b.ino
}

// Load returns the file's content, re-reading it if it changed.
func (t *Tasks) Load() (TasksFile, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.stamp, t.file = fileStamp{}, TasksFile{Version: tasksVersion}
		return t.file, nil
	}
	if err != nil {
		return TasksFile{}, fmt.Errorf("tasks file %s: %w", t.path, err)
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi), ok: true}
	if st.same(t.stamp) {
		return t.file, nil
	}
	f, err := readTasks(t.path)
	if err != nil {
		return TasksFile{}, err
	}
	t.stamp, t.file = st, f
	return f, nil
}

// Get returns the task for mac, if there is one.
func (t *Tasks) Get(mac string) (Task, bool, error) {
	f, err := t.Load()
	if err != nil {
		return Task{}, false, err
	}
	for _, k := range f.Tasks {
		if k.MAC == mac {
			return k, true, nil
		}
	}
	return Task{}, false, nil
}

func readTasks(path string) (TasksFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return TasksFile{Version: tasksVersion}, nil
	}
	if err != nil {
		return TasksFile{}, fmt.Errorf("tasks file %s: %w", path, err)
	}
	if len(b) > maxTasksFile {
		return TasksFile{}, fmt.Errorf("tasks file %s is %d bytes, more than a tasks file holds; is it the right file?: %w", path, len(b), ErrTask)
	}
	var f TasksFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return TasksFile{}, fmt.Errorf("tasks file %s is not a rewind tasks file (%v); fix it or move it away and add the tasks again: %w", path, err, ErrTask)
	}
	if f.Version != tasksVersion {
		return TasksFile{}, fmt.Errorf("tasks file %s is version %d; this rewind reads version %d: %w", path, f.Version, tasksVersion, ErrTask)
	}
	return f, nil
}

// Update reads the file afresh under the lock, lets fn change it, and
// writes it back atomically unless fn returns an error.
func (t *Tasks) Update(fn func(*TasksFile) error) error {
	if err := os.MkdirAll(filepath.Dir(t.path), 0o755); err != nil {
		return fmt.Errorf("tasks file %s: %w", t.path, err)
	}
	unlock, err := lockFile(t.path + ".lock")
	if err != nil {
		return fmt.Errorf("tasks file %s: locking it: %w", t.path, err)
	}
	defer unlock()
	f, err := readTasks(t.path)
	if err != nil {
		return err
	}
	if err := fn(&f); err != nil {
		return err
	}
	f.Version = tasksVersion
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(t.path, append(b, '\n'))
}

// writeAtomic replaces path with b: a reader sees the old or the new file.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("tasks file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; cleans up after a failure
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("tasks file %s: writing: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tasks file %s: writing: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tasks file %s: writing: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tasks file %s: %w", path, err)
	}
	return fsync.Dir(filepath.Dir(path))
}

// Put adds or replaces the task for t.MAC.
func (f *TasksFile) Put(t Task) {
	for i := range f.Tasks {
		if f.Tasks[i].MAC == t.MAC {
			f.Tasks[i] = t
			return
		}
	}
	f.Tasks = append(f.Tasks, t)
}

// Remove removes the task for mac and reports whether there was one.
func (f *TasksFile) Remove(mac string) bool {
	n := len(f.Tasks)
	f.Tasks = slices.DeleteFunc(f.Tasks, func(t Task) bool { return t.MAC == mac })
	return len(f.Tasks) != n
}

// Record keeps r as the last result for its MAC and, if the machine's task
// is one-shot and the report says it succeeded, clears the task. It returns
// r as recorded.
func (f *TasksFile) Record(r Result) Result {
	if len(r.Report) > maxReport {
		r.Report = nil
	}
	// The same report again (the environment retries when an answer is
	// lost or late): the first one stands, with the task it cleared.
	if prev, ok := f.LastResult(r.MAC); ok && r.Report != nil && sameJSON(prev.Report, r.Report) {
		return prev
	}
	for _, t := range f.Tasks {
		if t.MAC == r.MAC {
			r.Machine, r.Task = t.Machine, t.Task
			if t.Once && r.OK {
				f.Remove(r.MAC)
				r.Cleared = true
			}
			break
		}
	}
	f.Results = slices.DeleteFunc(f.Results, func(o Result) bool { return o.MAC == r.MAC })
	f.Results = append(f.Results, r)
	return r
}

// sameJSON reports whether a and b are the same JSON text but for spacing
// (the tasks file stores a report indented).
func sameJSON(a, b []byte) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}

// LastResult returns the last result reported for mac.
func (f *TasksFile) LastResult(mac string) (Result, bool) {
	for _, r := range f.Results {
		if r.MAC == mac {
			return r, true
		}
	}
	return Result{}, false
}
