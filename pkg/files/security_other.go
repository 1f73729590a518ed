// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !windows

package files

// Windows security descriptors are read and written by the Windows build;
// elsewhere a backup records none, and a replay of a Windows snapshot
// writes them only onto ntfs3 (ntfsMeta).

func readSecurity(string, bool) ([]byte, error)      { return nil, nil }
func needsSecurity(string, []byte, bool) bool        { return false }
func setSecurity(string, []byte, bool) (bool, error) { return true, nil }
func enablePrivileges(...string) map[string]bool     { return nil }
