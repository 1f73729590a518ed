// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"fmt"
	"net"
	"strings"
)

// UEFI with Secure Boot boots Debian's signed shim, which loads Debian's
// signed network GRUB (served as grubx64.efi beside it), which reads the
// bundle's grub/grub.cfg by TFTP. That file (images/grub-pxe.cfg, put in
// the bundle by make pxe) only hands over to the machine's own
// configuration, grub/rewind/MAC.cfg, which is not a file: the TFTP server
// writes it per MAC, as the HTTP server writes iPXE scripts. GRUB loads the
// kernel (signed; checked through shim), the initramfs and the settings
// archive by TFTP.

// grubPrefix is where GRUB asks for a machine's configuration.
const grubPrefix = "grub/rewind/"

// settingsPrefix is where the settings archive is on TFTP.
const settingsPrefix = "settings/"

// TFTPFile returns a file the TFTP server makes rather than reads: a
// machine's GRUB configuration, or its settings archive (once, to the
// address that fetched the configuration naming it). ok is false for any
// other name; err (fs.ErrNotExist) for a settings archive not to be given.
func (h *Site) TFTPFile(name string, from net.IP) (b []byte, ok bool, err error) {
	rel := strings.TrimPrefix(name, "/")
	ip := from.String()
	switch {
	case strings.HasPrefix(rel, grubPrefix) && strings.HasSuffix(rel, ".cfg"):
		mac, err := ParseMAC(strings.TrimSuffix(strings.TrimPrefix(rel, grubPrefix), ".cfg"))
		if err != nil {
			h.c.Log("tftp: %s: GRUB configuration for %s refused: %v", ip, safeText(name), err)
			return nil, true, err
		}
		t, has, a, err := h.plan("tftp", mac, ip, "/"+settingsPrefix)
		if err != nil {
			return nil, true, err
		}
		if !has {
			return []byte(grubMenu(a)), true, nil
		}
		return []byte(grubTask(t, a)), true, nil
	case strings.HasPrefix(rel, settingsPrefix):
		b, err := h.settingsArchive("tftp", strings.TrimPrefix(rel, settingsPrefix), ip)
		return b, true, err
	}
	return nil, false, nil
}

// grubTask is the GRUB configuration of a machine with a task: the same
// kernel arguments as its iPXE script.
func grubTask(t Task, a scriptArgs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# rewind pxe serve: %s, machine %s\nset timeout=0\n", a.mac, t.Machine)
	fmt.Fprintf(&b, "echo \"rewind: %s for machine %s (%s)\"\n", t.Task, t.Machine, a.mac)
	writeGrubBoot(&b, a, taskArgs(t, a))
	return b.String()
}

// grubMenu is the GRUB configuration of a machine without a task: the
// local disk after the timeout (exit: the firmware tries its next boot
// entry), or rewind's wizard.
func grubMenu(a scriptArgs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# rewind pxe serve: %s has no task\n", a.mac)
	fmt.Fprintf(&b, "set timeout=%d\nset default=local\n", int(a.menuTimeout.Seconds()+0.5))
	b.WriteString("menuentry \"Boot the local disk\" --id local {\n\texit\n}\n")
	b.WriteString("menuentry \"Start rewind (restore or capture with the wizard)\" --id wizard {\n")
	var in strings.Builder
	writeGrubBoot(&in, a, wizardArgs(a))
	for _, l := range strings.SplitAfter(in.String(), "\n") {
		if l != "" {
			b.WriteString("\t" + l)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func writeGrubBoot(b *strings.Builder, a scriptArgs, rewindArgs string) {
	fmt.Fprintf(b, "linux /%s %s %s\n", Kernel, a.kernelArgs, rewindArgs)
	fmt.Fprintf(b, "initrd /%s", Initramfs)
	if a.settingsURL != "" {
		fmt.Fprintf(b, " %s", a.settingsURL)
	}
	b.WriteString("\nboot\n")
}
