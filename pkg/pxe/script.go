// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pxe

import (
	"fmt"
	"strings"
	"time"

	"github.com/rewind-backup/rewind/pkg/config"
)

// settingsName is the name the per-machine settings archive has on the
// kernel's initrd= list (UEFI) and in iPXE.
const settingsName = "settings.cpio"

// scriptArgs is what a script needs besides the task.
type scriptArgs struct {
	base       string // http://SERVER:PORT, no trailing slash
	mac        string // aa:bb:cc:dd:ee:ff
	kernelArgs string // console= and friends, from the server's flags
	repo       string // the repository the task uses, "" if none
	// settingsURL is the one-time URL of the machine's settings archive
	// (password file), "" when there is no password to give.
	settingsURL string
	menuTimeout time.Duration
}

// TaskScript is the iPXE script for a machine with a task: it boots the
// environment with the task's settings as rewind.KEY=VALUE kernel
// arguments, and the settings archive (the password file) as a second
// initrd. The password never appears in the script.
func taskScript(t Task, a scriptArgs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!ipxe\n# rewind pxe serve: %s, machine %s\n", a.mac, t.Machine)
	fmt.Fprintf(&b, "echo rewind: %s for machine %s (%s) from %s\n", t.Task, t.Machine, a.mac, a.base)
	writeBoot(&b, a, taskArgs(t, a))
	return b.String()
}

// taskArgs are the rewind.KEY=VALUE kernel arguments of a task.
func taskArgs(t Task, a scriptArgs) string {
	args := []string{"rewind.task=" + string(t.Task)}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "rewind."+k+"="+v)
		}
	}
	add("machine", t.Machine)
	add("repo", a.repo)
	if t.Task != config.TaskWizard {
		add("image", t.Image)
		if t.Task == config.TaskRestore {
			add("files", t.Files)
		}
		target := t.Target
		if target == "" {
			target = "only"
		}
		add("target", target)
		add("after", string(t.After))
		add("report", a.base+"/done/"+dashMAC(a.mac))
	}
	return strings.Join(args, " ")
}

// wizardArgs are the kernel arguments of the menu's wizard entry.
func wizardArgs(a scriptArgs) string {
	if a.repo != "" {
		return "rewind.task=wizard rewind.repo=" + a.repo
	}
	return "rewind.task=wizard"
}

// menuScript is the iPXE script for a machine without a task: a short
// menu whose default, after the timeout, is the local disk, so that PXE
// first in the boot order is harmless. The wizard choice boots the
// environment without a password: the technician types it.
func menuScript(a scriptArgs) string {
	var b strings.Builder
	ms := a.menuTimeout.Milliseconds()
	fmt.Fprintf(&b, "#!ipxe\n# rewind pxe serve: %s has no task\n", a.mac)
	fmt.Fprintf(&b, "menu rewind: no task for this machine (%s)\n", a.mac)
	b.WriteString("item local Boot the local disk\n")
	b.WriteString("item wizard Start rewind (restore or capture with the wizard)\n")
	fmt.Fprintf(&b, "choose --default local --timeout %d choice || goto local\n", ms)
	b.WriteString("goto ${choice}\n")
	b.WriteString(":wizard\n")
	writeBoot(&b, a, wizardArgs(a))
	b.WriteString(":local\n")
	b.WriteString("echo rewind: booting the local disk\n")
	// BIOS: boot the first hard disk through INT 13h. UEFI: hand back to
	// the firmware, which tries the next entry of its boot order.
	b.WriteString("iseq ${platform} efi && goto local_efi ||\n")
	b.WriteString("sanboot --no-describe --drive 0x80 ||\n")
	b.WriteString(":local_efi\n")
	b.WriteString("exit\n")
	return b.String()
}

func writeBoot(b *strings.Builder, a scriptArgs, rewindArgs string) {
	initrds := "initrd=" + Initramfs
	if a.settingsURL != "" {
		initrds += " initrd=" + settingsName
	}
	fmt.Fprintf(b, "kernel %s/files/%s %s %s %s\n", a.base, Kernel, initrds, a.kernelArgs, rewindArgs)
	fmt.Fprintf(b, "initrd %s/files/%s\n", a.base, Initramfs)
	if a.settingsURL != "" {
		fmt.Fprintf(b, "initrd --name %s %s\n", settingsName, a.settingsURL)
	}
	b.WriteString("boot\n")
}

// dashMAC writes a MAC with dashes, as it goes in URLs.
func dashMAC(mac string) string { return strings.ReplaceAll(mac, ":", "-") }
