# Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause
#
# Start with scripts/make, which installs make and Go on a bare machine:
#   scripts/make demo    the main job end to end on a built-in sample
#   scripts/make test    the whole test suite
# See the README for the rest.

GO      ?= go
OUT     ?= out
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/rewind-backup/rewind/pkg/cli.Version=$(VERSION)
# How long each fuzz target runs in `make fuzz` (and in `make test`).
FUZZTIME ?= 5s

.PHONY: all build deps test unit fuzz demo bench clean

all: build

build: $(OUT)/rewind

$(OUT)/rewind: FORCE
	@mkdir -p $(OUT)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmds/rewind

deps:
	scripts/deps

# The suite: vet, every test (real Samba, real filesystems, QEMU), then each
# fuzz target briefly. REWIND_REQUIRE_TOOLS makes a missing tool a failure
# rather than a skip.
test: deps
	$(GO) vet ./...
	REWIND_REQUIRE_TOOLS=1 $(GO) test -count=1 -timeout 45m ./...
	scripts/fuzz $(FUZZTIME)

unit:
	$(GO) test -count=1 -short ./...

fuzz:
	scripts/fuzz $(FUZZTIME)

demo: deps build
	scripts/demo $(OUT)/rewind

bench: deps build
	scripts/bench $(OUT)/rewind

clean:
	rm -rf $(OUT)

FORCE:
