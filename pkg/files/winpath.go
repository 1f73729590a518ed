// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package files

import (
	"fmt"
	"strings"
)

// Windows writes one folder several ways: C:\Users\jane, and in the
// extended (\\?\C:\Users\jane) and device (\\.\C:\Users\jane) forms that
// programs use to pass the 260-character limit. A snapshot records the
// first, whichever was given.

func winSep(c byte) bool { return c == '\\' || c == '/' }

// dropExtended returns p without the \\?\ or \\.\ before its drive letter
// (\\?\C:\Users into C:\Users, \\?\C: into C:\), or p as it is.
func dropExtended(p string) string {
	if len(p) < 6 || !winSep(p[0]) || !winSep(p[1]) || p[2] != '?' && p[2] != '.' || !winSep(p[3]) || !isDrive(p[4:]) {
		return p
	}
	if len(p) == 6 {
		return p[4:] + `\`
	}
	return p[4:]
}

// windowsLocalPath returns Windows path p (absolute) as a backup records
// it: under its drive letter (C:\…), the extended forms made plain. A
// network folder (\\server\share\…, \\?\UNC\server\share\…) is refused:
// it is another machine's, which backs it up with its own disks, and a
// replay, which puts files back onto the disks of the machine restored,
// would have nowhere to put it. So is a volume without a drive letter
// (\\?\Volume{…}\…).
func windowsLocalPath(p string) (string, error) {
	p = dropExtended(p)
	if len(p) < 2 || !winSep(p[0]) || !winSep(p[1]) {
		return p, nil
	}
	device := len(p) >= 4 && (p[2] == '?' || p[2] == '.') && winSep(p[3])
	if device && !(len(p) >= 8 && strings.EqualFold(p[4:7], "UNC") && winSep(p[7])) {
		return "", fmt.Errorf("%s is a volume or device path: give the folder under its drive letter (C:\\…)", p)
	}
	return "", fmt.Errorf("%s is a network folder: back it up on the machine that holds it; rewind backs up this machine's own disks, which a replay puts files back onto", p)
}
