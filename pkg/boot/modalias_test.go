// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const aliases = `# Aliases extracted from modules themselves.
alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci_legacy_dummy
alias virtio:d00000001v* virtio_net
alias virtio:d00000004v* virtio_rng
alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip62in* uas
alias pci:v*d*sv*sd*bc01sc08i02* nvme
alias pci:v*d*sv*sd*bc0Csc03i30* xhci-pci
alias symbol:foo bar
alias fs-vfat vfat
`

func TestModulesFor(t *testing.T) {
	tab, err := parseAliases(strings.NewReader(aliases))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		devs []string
		skip map[string]bool
		want []string
	}{
		{[]string{"virtio:d00000001v00001AF4", "virtio:d00000004v00001AF4"}, nil, []string{"virtio_net", "virtio_rng"}},
		{[]string{"pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"}, nil, []string{"e1000"}},
		{[]string{"pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02"}, nil, []string{"nvme"}},
		{[]string{"pci:v00001B36d0000000Dsv00000000sd00000000bc0Csc03i30"}, nil, []string{"xhci_pci"}},
		{[]string{"usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00"}, nil, []string{"usb_storage"}},
		{[]string{"virtio:d00000001v00001AF4"}, map[string]bool{"virtio_net": true}, nil},
		{[]string{"acpi:PNP0303:", "nocolon", "pci:v0000FFFFd0000FFFFsv0sd0bc00sc00i00"}, nil, nil},
	} {
		got := tab.modulesFor(tc.devs, tc.skip)
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("modulesFor(%q) (-want +got):\n%s", tc.devs, diff)
		}
	}
}
