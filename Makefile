# Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause
#
# Start with scripts/make, which installs make and Go on a bare machine:
#   scripts/make demo    the main job end to end on a built-in sample
#   scripts/make test    the whole test suite
# See the README for the rest.

GO      ?= go
# go.mod names the toolchain; let go fetch it even where the installed Go's
# go.env says GOTOOLCHAIN=local (as /usr/local/go does).
GOTOOLCHAIN ?= auto
export GOTOOLCHAIN
OUT     ?= out
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/rewind-backup/rewind/pkg/cli.Version=$(VERSION)
# How long each fuzz target runs in `make fuzz` (and in `make test`).
FUZZTIME ?= 5s

.PHONY: all build deps test unit fuzz demo bench clean wine-root

all: build

build: $(OUT)/rewind

# out/ holds builds and the benchmarks' data, which copies Go sources from
# /usr: a go.mod of its own keeps it out of go vet ./... and go test ./...
$(OUT)/rewind: FORCE
	@mkdir -p $(OUT)
	@test -e $(OUT)/go.mod || echo 'module rewind.invalid/out // builds and bench data, not code' > $(OUT)/go.mod
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmds/rewind

deps:
	scripts/deps

# The suite: vet (also of the Windows and macOS builds, which the files
# agent ships), every test (real Samba, real filesystems, QEMU, the Windows
# build under Wine), then each fuzz target briefly. REWIND_REQUIRE_TOOLS
# makes a missing tool a failure rather than a skip.
test: deps wine-root
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	REWIND_REQUIRE_TOOLS=1 REWIND_WINE_ROOT=$(abspath $(OUT)/wine-root) $(GO) test -count=1 -timeout 45m ./...
	scripts/fuzz $(FUZZTIME)

# A Debian 13 root with Wine 10 and a ready prefix, in which the test of
# the Windows build runs it (pkg/cli/wine_test.go): built once (1-5 min,
# 1.2 GB), then kept; scripts/wine-root does nothing when it is complete.
wine-root: deps
	scripts/wine-root $(OUT)/wine-root

unit:
	$(GO) test -count=1 -short ./...

fuzz:
	scripts/fuzz $(FUZZTIME)

demo: deps build
	scripts/demo $(OUT)/rewind

bench: deps build pxe
	scripts/bench $(OUT)/rewind

clean:
	rm -rf $(OUT)

FORCE:

# ---------------------------------------------------------------------------
# Boot environment (issue 5). Everything lands under $(OUT); downloads and the
# slow builds are cached under $(OUT)/cache and $(OUT)/initramfs, so after the
# first build `make boot` only rebuilds rewind and its small archive.
#   make boot   $(OUT)/boot/vmlinuz + $(OUT)/boot/initramfs.cpio.zst
#   make usb    $(OUT)/rewind-usb.img (GPT; UEFI with Secure Boot, and BIOS)
#   make pxe    $(OUT)/pxe/ (vmlinuz, initramfs.cpio.zst, boot.ipxe, and the
#               first stage for rewind pxe serve: undionly.kpxe, ipxe.efi,
#               and for Secure Boot shimx64.efi, grubx64.efi, grub/grub.cfg)
# The kernel is Debian 13's signed linux-image; its version is pinned in
# scripts/fetch-debs and here (KVER).
KVER    ?= 6.12.117+deb13-amd64
CACHE   ?= $(OUT)/cache
KROOT   := $(CACHE)/root/linux-image-$(KVER)
IRD     := $(OUT)/initramfs
# The rewind binary that becomes /bin/uinit.
REWIND_BIN ?= $(OUT)/rewind

.PHONY: boot usb pxe

boot: $(OUT)/boot/vmlinuz $(OUT)/boot/initramfs.cpio.zst

$(CACHE)/debs.stamp: scripts/fetch-debs
	scripts/fetch-debs $(CACHE)
	@touch $@

$(OUT)/boot/vmlinuz: $(CACHE)/debs.stamp
	@mkdir -p $(@D)
	cp $(KROOT)/boot/vmlinuz-$(KVER) $@

# The u-root base: core commands and init, built once (40-80 s).
$(IRD)/base.cpio.zst: initramfs/tools.go
	@mkdir -p $(IRD)
	$(GO) tool u-root -o $(IRD)/base.cpio -defaultsh gosh 'github.com/u-root/u-root/cmds/core/*'
	zstd -q -T0 -19 -f --rm -o $@ $(IRD)/base.cpio

# The kernel modules the hardware detection may load, decompressed, with
# depmod data.
$(IRD)/modules.cpio.zst: $(CACHE)/debs.stamp initramfs/modules.list initramfs/mkmodules
	initramfs/mkmodules $(KROOT) $(KVER) initramfs/modules.list $(IRD)/modroot
	initramfs/mkcpio $(IRD)/modroot $@ 19

# rewind as /bin/uinit, and the overlay (/etc/rewind/rewind.conf).
$(IRD)/rewind.cpio.zst: $(REWIND_BIN) $(wildcard initramfs/overlay/*/* initramfs/overlay/*/*/*)
	rm -rf $(IRD)/top && mkdir -p $(IRD)/top/bin
	cp -R initramfs/overlay/. $(IRD)/top/
	cp $(REWIND_BIN) $(IRD)/top/bin/rewind
	ln -s rewind $(IRD)/top/bin/uinit
	initramfs/mkcpio $(IRD)/top $@ 9

$(OUT)/boot/initramfs.cpio.zst: $(IRD)/base.cpio.zst $(IRD)/modules.cpio.zst $(IRD)/rewind.cpio.zst
	@mkdir -p $(@D)
	cat $^ >$@.tmp && mv $@.tmp $@
	@ls -l $(OUT)/boot

usb: $(OUT)/rewind-usb.img

$(OUT)/rewind-usb.img: $(OUT)/boot/vmlinuz $(OUT)/boot/initramfs.cpio.zst images/mkusb images/grub.cfg images/syslinux.cfg images/rewind.conf
	images/mkusb $@ $(OUT)/boot/vmlinuz $(OUT)/boot/initramfs.cpio.zst $(CACHE)

pxe: $(OUT)/pxe/boot.ipxe

# iPXE from Debian's ipxe package (pinned in scripts/fetch-debs): what rewind
# pxe serve hands BIOS (undionly.kpxe) and UEFI (ipxe.efi) PXE clients by TFTP.
# For Secure Boot (pxe serve --uefi shim): Debian's signed shim, and its signed
# network GRUB under the name shim loads, grubx64.efi; GRUB reads grub/grub.cfg.
IPXE    := $(CACHE)/root/ipxe/usr/lib/ipxe
SHIM    := $(CACHE)/root/shim-signed/usr/lib/shim/shimx64.efi.signed
GRUBNET := $(CACHE)/root/grub-efi-amd64-signed/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed

$(OUT)/pxe/boot.ipxe: $(OUT)/boot/vmlinuz $(OUT)/boot/initramfs.cpio.zst images/boot.ipxe images/grub-pxe.cfg $(CACHE)/debs.stamp
	@mkdir -p $(@D)/grub
	cp $(OUT)/boot/vmlinuz $(OUT)/boot/initramfs.cpio.zst $(@D)/
	cp -L $(IPXE)/undionly.kpxe $(IPXE)/ipxe.efi $(@D)/
	cp $(SHIM) $(@D)/shimx64.efi
	cp $(GRUBNET) $(@D)/grubx64.efi
	cp images/grub-pxe.cfg $(@D)/grub/grub.cfg
	cp images/boot.ipxe $@
