// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

//go:build !linux

package files

import "errors"

// onNTFS3 reports whether folder p is on a filesystem Linux's ntfs3
// driver mounted: never here. On Windows the replay sets attributes and
// times through the Windows API instead.
func onNTFS3(string) bool { return false }

var errNoNTFS3 = errors.New("ntfs3 is Linux's")

func ntfsAttrs(string) (uint32, error)     { return 0, errNoNTFS3 }
func setNTFSAttrs(string, uint32) error    { return errNoNTFS3 }
func hasNTFSSecurity(string, []byte) bool  { return false }
func setNTFSSecurity(string, []byte) error { return errNoNTFS3 }
