#!/bin/sh
# Reproduce everything: build images (2 seeds), measure, SMB benchmark.
#   scripts/run-all.sh            (as root; ~3 min + ~3 min SMB)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN=auto
(cd "$top/measure" && go build -o measure . && go build -o capture/capture ./capture && go build -o smbbench/smbbench ./smbbench)
for seed in ${SEEDS:-1 2}; do
	d=$top/data/seed$seed
	for fs in ${FILESYSTEMS:-ntfs ext4}; do
		"$top/scripts/build.sh" $fs $seed 2>&1 | grep -v "not specified\|Windows\|forced\|block device"
		"$top/scripts/regions.sh" $fs "$d/$fs-w2.img" >"$d/$fs-regions.txt"
		delta=$(awk '/^#/ {for (i = 1; i <= NF; i++) if ($i == "changed_bytes") print $(i+1)}' "$d/$fs-changes.log")
		"$top/measure/measure" -w1 "$d/$fs-w1.img" -w2 "$d/$fs-w2.img" -delta "$delta" \
			-regions "$d/$fs-regions.txt" -name "$fs seed $seed" >"$d/$fs-result.md"
		# rewind's own capture of the two weeks at format 2's chunk size
		"$top/measure/capture/capture" -w1 "$d/$fs-w1.img" -w2 "$d/$fs-w2.img" -delta "$delta" \
			-name "$fs seed $seed" >"$d/$fs-capture-result.md"
		if [ $fs = ext4 ]; then
			# as rewind imaged the journal's log before it recorded it as zeros
			"$top/measure/measure" -w1 "$d/$fs-w1.img" -w2 "$d/$fs-w2.img" -delta "$delta" \
				-regions "$d/$fs-regions.txt" -keep-journal -name "$fs seed $seed, journal log imaged" >"$d/$fs-keepjournal-result.md"
			"$top/measure/capture/capture" -w1 "$d/$fs-w1.img" -w2 "$d/$fs-w2.img" -delta "$delta" \
				-keep-journal -name "$fs seed $seed, journal log imaged" >>"$d/$fs-capture-result.md"
		fi
	done
done
[ -n "${NOSMB:-}" ] || "$top/scripts/smb.sh" >"$top/data/smb-result.md"
