// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"errors"
	"io/fs"
	"unsafe"

	"golang.org/x/sys/windows"
)

// openMeta opens the entry at p itself (a folder, or a symlink rather than
// its target) with access to its metadata only, under the privileges the
// process has enabled (FILE_FLAG_BACKUP_SEMANTICS).
func openMeta(p string, access uint32) (windows.Handle, error) {
	u, err := windows.UTF16PtrFromString(extendedPath(p))
	if err != nil {
		return 0, err
	}
	return windows.CreateFile(u, access, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
}

// readSecurity returns the security descriptor of the entry at p,
// self-relative: its owner, group and DACL, and with sacl its SACL too.
func readSecurity(p string, sacl bool) ([]byte, error) {
	info := windows.SECURITY_INFORMATION(windows.OWNER_SECURITY_INFORMATION | windows.GROUP_SECURITY_INFORMATION | windows.DACL_SECURITY_INFORMATION)
	access := uint32(windows.READ_CONTROL)
	if sacl {
		info |= windows.SACL_SECURITY_INFORMATION
		access |= windows.ACCESS_SYSTEM_SECURITY
	}
	h, err := openMeta(p, access)
	if err != nil {
		return nil, &fs.PathError{Op: "getsecurity", Path: p, Err: err}
	}
	defer windows.CloseHandle(h)
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, info)
	if err != nil {
		return nil, &fs.PathError{Op: "getsecurity", Path: p, Err: err}
	}
	// GetSecurityInfo's copy is self-relative, on the Go heap.
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(sd)), sd.Length())...), nil
}

// needsSecurity reports whether the entry at p lacks security descriptor
// sd (owner, group, DACL, and with sacl a SACL that sd holds).
func needsSecurity(p string, sd []byte, sacl bool) bool {
	if len(sd) == 0 {
		return false
	}
	sacl = sacl && hasSACL(sd)
	cur, err := readSecurity(p, sacl)
	return err != nil || !sameSecurity(cur, sd, sacl)
}

// setSecurity gives the entry at p security descriptor sd as it is
// (SetKernelObjectSecurity: nothing is inherited from the folder, nor
// passed on to what the folder holds): its owner, group and DACL, and with
// sacl its SACL, if it has one. Setting an owner other than oneself takes
// SeRestorePrivilege (an elevated prompt); without it the DACL alone is
// set, and ownerSet is false.
func setSecurity(p string, sd []byte, sacl bool) (ownerSet bool, err error) {
	if _, err := parseSD(sd); err != nil {
		return false, &fs.PathError{Op: "setsecurity", Path: p, Err: err}
	}
	// Go memory as long as the struct it is read as, for the checks of
	// the race detector; Windows reads the self-relative layout.
	buf := make([]byte, max(len(sd), int(unsafe.Sizeof(windows.SECURITY_DESCRIPTOR{}))))
	copy(buf, sd)
	desc := (*windows.SECURITY_DESCRIPTOR)(unsafe.Pointer(&buf[0]))

	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION)
	access := uint32(windows.WRITE_DAC | windows.READ_CONTROL)
	if sacl && hasSACL(sd) {
		info |= windows.SACL_SECURITY_INFORMATION
		access |= windows.ACCESS_SYSTEM_SECURITY
	}
	owner := windows.SECURITY_INFORMATION(windows.OWNER_SECURITY_INFORMATION | windows.GROUP_SECURITY_INFORMATION)
	err = putSecurity(p, access|windows.WRITE_OWNER, info|owner, desc)
	if err == nil {
		return true, nil
	}
	if ownerRefused(err) {
		err = putSecurity(p, access, info, desc)
	}
	if err != nil {
		return false, &fs.PathError{Op: "setsecurity", Path: p, Err: err}
	}
	return false, nil
}

// putSecurity opens the entry at p with access and sets the parts info
// names of desc.
func putSecurity(p string, access uint32, info windows.SECURITY_INFORMATION, desc *windows.SECURITY_DESCRIPTOR) error {
	h, err := openMeta(p, access)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	return windows.SetKernelObjectSecurity(h, info, desc)
}

// ownerRefused reports whether err is Windows refusing an owner (or the
// WRITE_OWNER access to set one) to a process without SeRestorePrivilege.
func ownerRefused(err error) bool {
	return errors.Is(err, windows.ERROR_INVALID_OWNER) || errors.Is(err, windows.ERROR_PRIVILEGE_NOT_HELD) ||
		errors.Is(err, windows.ERROR_ACCESS_DENIED)
}

// enablePrivileges enables those of the named privileges that the
// process's token holds (an elevated prompt holds them; a user's, mostly
// not) and returns which are enabled.
func enablePrivileges(names ...string) map[string]bool {
	var tok windows.Token
	if windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok) != nil {
		return nil
	}
	defer tok.Close()
	luids := make(map[windows.LUID]string, len(names))
	for _, name := range names {
		var l windows.LUID
		u, err := windows.UTF16PtrFromString(name)
		if err != nil || windows.LookupPrivilegeValue(nil, u, &l) != nil {
			continue
		}
		luids[l] = name
		tp := windows.Tokenprivileges{PrivilegeCount: 1, Privileges: [1]windows.LUIDAndAttributes{{Luid: l, Attributes: windows.SE_PRIVILEGE_ENABLED}}}
		// Succeeds (with ERROR_NOT_ALL_ASSIGNED) when the token lacks
		// it: the token says below what is enabled.
		windows.AdjustTokenPrivileges(tok, false, &tp, 0, nil, nil)
	}
	var n uint32
	windows.GetTokenInformation(tok, windows.TokenPrivileges, nil, 0, &n)
	if n == 0 {
		return nil
	}
	buf := make([]byte, n)
	if windows.GetTokenInformation(tok, windows.TokenPrivileges, &buf[0], n, &n) != nil {
		return nil
	}
	on := make(map[string]bool)
	for _, p := range (*windows.Tokenprivileges)(unsafe.Pointer(&buf[0])).AllPrivileges() {
		if name, ok := luids[p.Luid]; ok && p.Attributes&windows.SE_PRIVILEGE_ENABLED != 0 {
			on[name] = true
		}
	}
	return on
}
