// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewind-backup/rewind/pkg/files"
	"github.com/rewind-backup/rewind/pkg/human"
	"github.com/rewind-backup/rewind/pkg/repo"
)

func newFilesCommand(o OS) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "files COMMAND",
		Short: "back up user files, look into file backups, restore and replay them",
		Long: "User files are backed up from the running system, often (hourly, daily), into the\n" +
			"same repository as the machine's disk images and under the same machine name. After\n" +
			"an image restore, 'files replay' brings the files that changed since the image back.",
		Example: "  rewind files backup --repo smb://rewind@nas.local/backup/shop\n" +
			"  rewind files ls --repo smb://rewind@nas.local/backup/shop --machine office-pc /home/jane\n" +
			"  rewind files replay --repo smb://rewind@nas.local/backup/shop --machine office-pc --into /mnt/restored",
	}
	group(cmd, "no files command given")
	cmd.AddCommand(newFilesBackupCommand(o), newFilesLsCommand(o), newFilesDiffCommand(o), newFilesRestoreCommand(o), newFilesReplayCommand(o), newFilesScheduleCommand(o))
	return cmd
}

type filesBackupOptions struct {
	repoOptions
	Machine  string
	Excludes []string
	NoDefEx  bool
	Note     string
	JSON     bool
	Paths    []string
	Full     bool
}

func newFilesBackupCommand(o OS) *cobra.Command {
	var opt filesBackupOptions
	cmd := &cobra.Command{
		Use:   "backup --repo REPO [--machine NAME] [--exclude PATTERN]... [flags] [PATH...]",
		Short: "back up user folders (by default every user's profile) into the repository",
		Long: "Back up each PATH (by default the user profiles: /home and /root on Linux, /Users on\n" +
			"macOS, C:\\Users on Windows) as a files snapshot of machine NAME (by default this\n" +
			"host's name: it must be the name the machine's images go under). Files unchanged\n" +
			"since the machine's previous files snapshot (same size, times and inode) are not\n" +
			"read again. Files that cannot be read are listed and do not fail the run.\n\n" +
			"Left out by default: caches, temporary folders and the trash (see 'rewind files\n" +
			"backup --help' and the README); --exclude adds patterns, --no-default-excludes\n" +
			"drops the default list.",
		Example: "  rewind files backup --repo smb://rewind@nas.local/backup/shop\n" +
			"  rewind files backup --repo /mnt/usb/rewind --machine office-pc --exclude '*.iso' /home/jane",
		RunE: func(cmd *cobra.Command, args []string) error {
			opt.Paths = args
			var err error
			if opt.Machine, err = machineOrHost(opt.Machine); err != nil {
				return err
			}
			return runFilesBackup(cmd.Context(), opt, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "the machine's `NAME` in the repository (default: the host name)")
	fs.StringArrayVar(&opt.Excludes, "exclude", nil, "leave out what matches `PATTERN` (repeatable; '*.tmp', '.cache', 'AppData/Local/Temp', '/home/*/Downloads')")
	fs.BoolVar(&opt.NoDefEx, "no-default-excludes", false, "do not leave out caches, temporary folders and the trash")
	fs.BoolVar(&opt.Full, "full", false, "read every file, even those unchanged since the previous backup")
	fs.StringVar(&opt.Note, "note", "", "a `TEXT` kept with the snapshot")
	fs.BoolVar(&opt.JSON, "json", false, "progress and result as JSON lines")
	return cmd
}

// filesBackupJSON is the result line of files backup --json.
type filesBackupJSON struct {
	result
	Snapshot string             `json:"snapshot,omitempty"`
	Machine  string             `json:"machine"`
	Stats    *repo.FilesStats   `json:"stats,omitempty"`
	Problems []repo.FileProblem `json:"problems,omitempty"`
	Seconds  float64            `json:"seconds"`
}

func runFilesBackup(ctx context.Context, opt filesBackupOptions, o OS) (err error) {
	out := filesBackupJSON{Machine: opt.Machine}
	if opt.JSON {
		defer func() { printResult(o.Stdout, &out, err) }()
	}
	excludes := opt.Excludes
	if !opt.NoDefEx {
		excludes = append(files.DefaultExcludes(), excludes...)
	}
	if excludes == nil {
		excludes = []string{}
	}
	paths := opt.Paths
	for i, p := range paths {
		abs, err := absPath(p)
		if err != nil {
			return err
		}
		paths[i] = abs
	}
	if len(paths) == 0 {
		if paths = files.DefaultPaths(); len(paths) == 0 {
			return fmt.Errorf("this system has no user profile folder to back up; name the folders: %w", ErrUsage)
		}
	}
	r, pr, done, err := openWithProgress(ctx, opt.repoOptions, o, opt.JSON)
	if err != nil {
		return err
	}
	defer done()
	host, _ := os.Hostname()
	res, err := files.Backup(ctx, r, files.Options{
		Machine: opt.Machine, Paths: paths, Excludes: excludes, NoParent: opt.Full, Host: host, Note: opt.Note, Progress: pr.t,
	})
	pr.Stop()
	if err != nil {
		return err
	}
	st := res.Stats
	out.Snapshot, out.Stats, out.Problems, out.Seconds = res.Snapshot.ID().String(), &st, res.Problems, res.Duration.Seconds()
	if opt.JSON {
		return nil
	}
	fmt.Fprintf(o.Stdout, "files %s of %s: %d files, %d folders, %s; read %s, %s new in the repository (%d blobs), %s\n",
		repo.ShortID(res.Snapshot.ID()), opt.Machine, st.Files, st.Dirs, human.Bytes(st.Bytes), human.Bytes(st.ReadBytes),
		human.Bytes(st.NewBytes), st.NewBlobs, res.Duration.Round(100e6))
	if n := len(res.Problems); n > 0 {
		fmt.Fprintf(o.Stderr, "rewind: warning: %d files were not backed up whole (named above and in the snapshot)\n", n)
	}
	return nil
}

// absPath makes p absolute.
func absPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("path %s: %w", p, err)
	}
	return abs, nil
}

type filesLsOptions struct {
	repoOptions
	Machine  string
	Snapshot string
	JSON     bool
}

func newFilesLsCommand(o OS) *cobra.Command {
	var opt filesLsOptions
	cmd := &cobra.Command{
		Use:     "ls --repo REPO --machine NAME [--snapshot ID|latest] [PATH]",
		Short:   "list a folder of a files snapshot",
		Example: "  rewind files ls --repo /mnt/usb/rewind --machine office-pc /home/jane/Documents",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := "/"
			if len(args) == 1 {
				p = args[0]
			}
			if opt.Machine == "" {
				return fmt.Errorf("files ls needs --machine NAME: %w", ErrUsage)
			}
			return runFilesLs(cmd.Context(), opt, p, o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "the machine's `NAME` in the repository")
	fs.StringVar(&opt.Snapshot, "snapshot", "latest", "the files snapshot: an `ID` (at least 4 hex digits) or latest")
	fs.BoolVar(&opt.JSON, "json", false, "print JSON")
	return cmd
}

type lsEntry struct {
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	Size   uint64    `json:"size"`
	Mode   string    `json:"mode"`
	MTime  time.Time `json:"mtime"`
	Target string    `json:"target,omitempty"`
	Unread bool      `json:"unread,omitempty"`
}

func runFilesLs(ctx context.Context, opt filesLsOptions, p string, o OS) error {
	r, err := openRepo(ctx, opt.repoOptions, o, nil)
	if err != nil {
		return err
	}
	defer closeRepo(r)
	s, err := r.FindSnapshot(ctx, opt.Machine, repo.KindFiles, opt.Snapshot)
	if err != nil {
		return err
	}
	n, err := files.Lookup(ctx, r, s.Files.Root(), p)
	if err != nil {
		return err
	}
	var nodes []repo.Node
	if n.Type == repo.NodeDir {
		t, err := r.LoadTree(ctx, *n.Subtree)
		if err != nil {
			return err
		}
		nodes = t.Nodes
	} else {
		nodes = []repo.Node{*n}
	}
	var out []lsEntry
	for _, c := range nodes {
		out = append(out, lsEntry{Name: c.Name, Type: files.TypeName(c.Type), Size: c.Size, Mode: fmt.Sprintf("%04o", c.Mode),
			MTime: time.Unix(0, c.MTime), Target: c.Target, Unread: c.Unread})
	}
	if opt.JSON {
		return printJSON(o.Stdout, out)
	}
	tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
	for _, e := range out {
		name := printable(e.Name)
		switch {
		case e.Type == "dir":
			name += "/"
		case e.Type == "symlink":
			name += " -> " + printable(e.Target)
		}
		if e.Unread {
			name += "  (not backed up: unreadable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Type, e.Mode, human.Bytes(int64(e.Size)), e.MTime.Local().Format("2006-01-02 15:04"), name)
	}
	return tw.Flush()
}

// printable quotes a name that holds control characters.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

type filesDiffOptions struct {
	repoOptions
	Machine string
	JSON    bool
}

func newFilesDiffCommand(o OS) *cobra.Command {
	var opt filesDiffOptions
	cmd := &cobra.Command{
		Use:     "diff --repo REPO --machine NAME ID1 ID2",
		Short:   "what was added, changed and deleted between two files snapshots",
		Example: "  rewind files diff --repo /mnt/usb/rewind --machine office-pc 3f2a 9c41",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opt.Machine == "" {
				return fmt.Errorf("files diff needs --machine NAME: %w", ErrUsage)
			}
			return runFilesDiff(cmd.Context(), opt, args[0], args[1], o)
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "the machine's `NAME` in the repository")
	fs.BoolVar(&opt.JSON, "json", false, "print JSON")
	return cmd
}

func runFilesDiff(ctx context.Context, opt filesDiffOptions, id1, id2 string, o OS) error {
	r, err := openRepo(ctx, opt.repoOptions, o, nil)
	if err != nil {
		return err
	}
	defer closeRepo(r)
	a, err := r.FindSnapshot(ctx, opt.Machine, repo.KindFiles, id1)
	if err != nil {
		return err
	}
	b, err := r.FindSnapshot(ctx, opt.Machine, repo.KindFiles, id2)
	if err != nil {
		return err
	}
	var changes []files.Change
	err = files.Diff(ctx, r, a.Files.Root(), b.Files.Root(), func(c files.Change) error {
		if opt.JSON {
			changes = append(changes, c)
			return nil
		}
		size := ""
		if c.Size > 0 || c.What != "deleted" {
			size = human.Bytes(c.Size)
		}
		_, err := fmt.Fprintf(o.Stdout, "%-8s %10s  %s\n", c.What, size, printable(files.DisplayPath(c.Path)))
		return err
	})
	if err != nil {
		return err
	}
	if opt.JSON {
		if changes == nil {
			changes = []files.Change{}
		}
		return printJSON(o.Stdout, changes)
	}
	return nil
}

type filesReplayOptions struct {
	repoOptions
	Machine     string
	Snapshot    string
	Into        string
	Maps        []string
	KeepDeleted bool
	DryRun      bool
	Checksum    bool
	JSON        bool
	Overwrite   bool
	Paths       []string
}

func newFilesReplayCommand(o OS) *cobra.Command {
	var opt filesReplayOptions
	cmd := &cobra.Command{
		Use:   "replay --repo REPO --machine NAME [--snapshot ID|latest] --into MOUNTPOINT [flags]",
		Short: "make the backed-up folders under MOUNTPOINT equal a files snapshot",
		Long: "After an image restore, bring the user files back to their newest backup: under\n" +
			"MOUNTPOINT (the restored filesystem, mounted), write what is new or differs, delete\n" +
			"what was deleted since (unless --keep-deleted), and set owners, modes, times and\n" +
			"extended attributes. A path P of the snapshot lands at MOUNTPOINT/P; a Windows\n" +
			"path loses its drive (C:\\Users\\jane → MOUNTPOINT/Users/jane); --map moves a\n" +
			"folder elsewhere. A changed file reuses what its old version on the target holds,\n" +
			"so only the changed parts are fetched. Each file is written whole to a temporary\n" +
			"name and renamed over the old one; a replay that was cut off is run again to finish.\n\n" +
			"A file whose size and modification time equal the snapshot's is taken as unchanged;\n" +
			"--checksum reads it to compare.",
		Example: "  rewind files replay --repo smb://rewind@nas.local/backup/shop --machine office-pc --into /mnt/restored\n" +
			"  rewind files replay --repo /mnt/usb/rewind --machine office-pc --into /mnt/c --dry-run",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opt.Machine == "" || opt.Into == "" {
				return fmt.Errorf("files replay needs --machine NAME and --into MOUNTPOINT: %w", ErrUsage)
			}
			return runFilesReplay(cmd.Context(), opt, o, "replay")
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "the machine's `NAME` in the repository")
	fs.StringVar(&opt.Snapshot, "snapshot", "latest", "the files snapshot: an `ID` (at least 4 hex digits) or latest")
	fs.StringVar(&opt.Into, "into", "", "the `MOUNTPOINT` (or folder) the snapshot's paths land under")
	fs.StringArrayVar(&opt.Maps, "map", nil, "put the snapshot's folder SRC at MOUNTPOINT/DST (`SRC=DST`, repeatable; split at the last '=', so SRC may hold '=' and DST may not)")
	fs.BoolVar(&opt.KeepDeleted, "keep-deleted", false, "keep what the target has that the snapshot does not")
	fs.BoolVar(&opt.DryRun, "dry-run", false, "say what would change, change nothing")
	fs.BoolVar(&opt.Checksum, "checksum", false, "read files whose size and time match, to compare their content")
	fs.BoolVar(&opt.JSON, "json", false, "progress and result as JSON lines")
	return cmd
}

func newFilesRestoreCommand(o OS) *cobra.Command {
	var opt filesReplayOptions
	cmd := &cobra.Command{
		Use:   "restore --repo REPO --machine NAME [--snapshot ID|latest] --to DIR PATH...",
		Short: "restore files or folders of a files snapshot into a folder",
		Long: "Restore each PATH (a file or a folder, as it was backed up: /home/jane/x.ods,\n" +
			"C:\\Users\\jane\\Documents) with its metadata to DIR/PATH. Nothing that exists is\n" +
			"touched unless --overwrite is given.",
		Example: "  rewind files restore --repo /mnt/usb/rewind --machine office-pc --to /tmp/back /home/jane/plan.ods",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt.Paths = args
			if opt.Machine == "" || opt.Into == "" {
				return fmt.Errorf("files restore needs --machine NAME and --to DIR: %w", ErrUsage)
			}
			opt.KeepDeleted = true
			if err := os.MkdirAll(opt.Into, 0o755); err != nil {
				return fmt.Errorf("restoring into %s: %w", opt.Into, err)
			}
			return runFilesReplay(cmd.Context(), opt, o, "restore")
		},
	}
	fs := cmd.Flags()
	opt.register(fs)
	fs.StringVar(&opt.Machine, "machine", "", "the machine's `NAME` in the repository")
	fs.StringVar(&opt.Snapshot, "snapshot", "latest", "the files snapshot: an `ID` (at least 4 hex digits) or latest")
	fs.StringVar(&opt.Into, "to", "", "the `DIR` to restore into")
	fs.BoolVar(&opt.Overwrite, "overwrite", false, "replace what exists at the restored paths")
	fs.BoolVar(&opt.JSON, "json", false, "progress and result as JSON lines")
	return cmd
}

// filesReplayJSON is the result line of files replay/restore --json.
type filesReplayJSON struct {
	result
	Snapshot string `json:"snapshot,omitempty"`
	*files.ReplaySummary
}

func runFilesReplay(ctx context.Context, opt filesReplayOptions, o OS, verb string) (err error) {
	out := filesReplayJSON{}
	if opt.JSON {
		defer func() { printResult(o.Stdout, &out, err) }()
	}
	r, pr, done, err := openWithProgress(ctx, opt.repoOptions, o, opt.JSON)
	if err != nil {
		return err
	}
	defer done()
	s, err := r.FindSnapshot(ctx, opt.Machine, repo.KindFiles, opt.Snapshot)
	if err != nil {
		return err
	}
	out.Snapshot = s.ID().String()
	sum, err := files.Replay(ctx, r, s, files.ReplayOptions{
		Into: opt.Into, Map: opt.Maps, Paths: opt.Paths, KeepDeleted: opt.KeepDeleted, NoClobber: verb == "restore" && !opt.Overwrite,
		Checksum: opt.Checksum, DryRun: opt.DryRun, Progress: pr.t,
	})
	if errors.Is(err, files.ErrExists) {
		err = fmt.Errorf("%w: restore elsewhere with --to, or replace it with --overwrite", err)
	}
	pr.Stop()
	out.ReplaySummary = sum
	if err != nil {
		return err
	}
	if opt.JSON {
		return nil
	}
	would := ""
	if opt.DryRun {
		would = " (dry run: nothing changed)"
	}
	fmt.Fprintf(o.Stdout, "%s of files %s of %s into %s%s: %d added, %d changed, %d deleted, %d unchanged; %s written, %s fetched, %s reused from the target, %s\n",
		verb, repo.ShortID(s.ID()), opt.Machine, opt.Into, would, sum.Added, sum.Changed, sum.Deleted, sum.Unchanged,
		human.Bytes(sum.Written), human.Bytes(sum.Fetched), human.Bytes(sum.Reused), sum.Duration.Round(100e6))
	if sum.Unread > 0 {
		fmt.Fprintf(o.Stderr, "rewind: warning: %d entries could not be backed up at the time and were left as they are\n", sum.Unread)
	}
	if len(sum.Problems) > 0 {
		fmt.Fprintf(o.Stderr, "rewind: warning: %d problems (named above)\n", len(sum.Problems))
	}
	return nil
}

// printJSON prints v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// machineOrHost returns name, or this host's name when name is empty,
// checked as a machine name.
func machineOrHost(name string) (string, error) {
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("this host has no name to use: give --machine NAME: %w", ErrUsage)
		}
		name = h
	}
	if err := repo.ValidMachine(name); err != nil {
		return "", fmt.Errorf("%v; give --machine NAME: %w", err, ErrUsage)
	}
	return name, nil
}
