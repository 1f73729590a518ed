// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package fsync

// Dir does nothing on Windows: a folder cannot be opened for
// FlushFileBuffers the Unix way (os.Open of a folder then Sync fails with
// "Access denied"), and NTFS journals a rename's metadata itself. The file's
// own data was flushed before the rename.
func Dir(dir string) error { return nil }
