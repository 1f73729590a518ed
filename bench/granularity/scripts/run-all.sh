#!/bin/sh
# Reproduce everything: build images (2 seeds), measure, SMB benchmark.
#   scripts/run-all.sh            (as root; ~3 min + ~3 min SMB)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN=auto
(cd "$top/measure" && go build -o measure . && go build -o smbbench/smbbench ./smbbench)
for seed in ${SEEDS:-1 2}; do
	d=$top/data/seed$seed
	for fs in ntfs ext4; do
		"$top/scripts/build.sh" $fs $seed 2>&1 | grep -v "not specified\|Windows\|forced\|block device"
		"$top/scripts/regions.sh" $fs "$d/$fs-w2.img" >"$d/$fs-regions.txt"
		delta=$(awk '/^#/ {for (i = 1; i <= NF; i++) if ($i == "changed_bytes") print $(i+1)}' "$d/$fs-changes.log")
		"$top/measure/measure" -w1 "$d/$fs-w1.img" -w2 "$d/$fs-w2.img" -delta "$delta" \
			-regions "$d/$fs-regions.txt" -name "$fs seed $seed" >"$d/$fs-result.md"
		if [ $fs = ext4 ]; then
			"$top/measure/measure" -w1 "$d/$fs-w1.img" -w2 "$d/$fs-w2.img" -delta "$delta" \
				-regions "$d/$fs-regions.txt" -mask journal -name "$fs seed $seed, journal body masked" >"$d/$fs-nojournal-result.md"
		fi
	done
done
[ -n "${NOSMB:-}" ] || "$top/scripts/smb.sh" >"$top/data/smb-result.md"
