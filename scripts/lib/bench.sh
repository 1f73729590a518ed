# Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause
#
# scripts/lib/bench.sh — what the image benchmarks share (bench-images,
# bench-ab), sourced by bash. The caller sets:
#
#   work                 the bench's folder (scratch files live there)
#   mnt                  where a filesystem under test is mounted
#   nas_ns, cli_ns       the namespaces of the emulated gigabit LAN: name
#                        them after the caller's pid (rwbench-nas$$), so
#                        that gbe_reap can tell a stale one
#   nas_ip, cli_ip       their addresses; gbe_rate the shaping (975mbit)

# gbe_reap: delete the namespaces a bench that was killed outright left
# (its pid is gone).
gbe_reap() {
	local ns
	for ns in $(ip netns list 2>/dev/null | grep -o '^rwbench-\(nas\|cli\)[0-9]*' || true); do
		kill -0 "${ns##*[a-z]}" 2>/dev/null || ip netns del "$ns" 2>/dev/null || true
	done
}

# gbe_up: the two namespaces, the veth pair between them, and the shaping
# of both ends' egress (so each direction is a gigabit link).
gbe_up() {
	ip netns add "$nas_ns"
	ip netns add "$cli_ns"
	ip -n "$nas_ns" link add vn type veth peer name vc netns "$cli_ns"
	ip -n "$nas_ns" addr add "$nas_ip/24" dev vn
	ip -n "$cli_ns" addr add "$cli_ip/24" dev vc
	local end
	for end in "$nas_ns vn" "$cli_ns vc"; do
		set -- $end
		ip -n "$1" link set lo up
		ip -n "$1" link set "$2" mtu 1500 up
		# A 256 KiB bucket: smaller ones drop packets at this rate with the
		# kernel's timer and cost TCP throughput; 10 ms of queue at most.
		tc -n "$1" qdisc add dev "$2" root tbf rate "$gbe_rate" burst 256k latency 10ms
	done
}

# secs CMD...: run CMD, print its wall time in seconds.
secs() {
	local s e
	s=$(date +%s.%N)
	"$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; return 1; }
	e=$(date +%s.%N)
	printf '%.2f\n' "$(echo "$e - $s" | bc)"
}
ratio() { echo "scale=2; $1 / $2" | bc; }
mb() { echo "scale=1; $1 / 1048576" | bc; }
# rate BYTES SECONDS: MB/s (10^6 bytes, as link speeds are given).
rate() { echo "scale=1; $1 / $2 / 1000000" | bc; }
pct() { echo "scale=0; 100 * $1 / $2" | bc; }

# fill DIR BYTES: copy files from /usr into DIR until BYTES.
fill() {
	local dir=$1 want=$2
	mkdir -p "$dir"
	# In path order, as installers write a folder's files together; one
	# tar rather than a cp per file (thousands of forks on a loaded machine).
	(cd /usr && find lib share -type f -size +0 -size -8M -printf '%s %p\n' 2>/dev/null | sort -k2) |
		awk -v want="$want" '{ size = $1; sub(/^[0-9]+ /, ""); printf "%s%c", $0, 0; got += size; if (got >= want) exit }' |
		tar -C /usr --null --no-recursion -T - -cf - 2>/dev/null | tar -C "$dir" --no-same-owner -xf - || true
}

# change DIR PERCENT: change that share of the data's bytes, as an update
# or a week of work does: ten runs of neighbouring files (a package, a
# project folder), each rewritten in place with its content rotated by 16
# bytes (new bytes, same compressibility).
change() {
	local dir=$1 pct=$2 total list
	list=$work/files.txt
	find "$dir" -type f -printf '%s %p\n' | sort -k2 >"$list"
	total=$(awk '{s += $1} END {print s}' "$list")
	awk -v total="$total" -v pct="$pct" 'BEGIN { srand(7); want = total * pct / 100 / 10 }
		{ size[NR] = $1; sub(/^[0-9]+ /, ""); name[NR] = $0 }
		END {
			for (run = 0; run < 10; run++) {
				i = int(rand() * NR) + 1; got = 0
				while (got < want && i <= NR) { if (!(i in done)) { print name[i]; done[i] = 1; got += size[i] } i++ }
			}
		}' "$list" | while read -r f; do
		{ tail -c +17 "$f"; head -c 16 "$f"; } >"$work/rot" && cat "$work/rot" >"$f"
	done || true
	rm -f "$work/rot" "$list"
}

# unmount IMAGE: unmount $mnt (IMAGE's filesystem) and wait until nothing
# holds IMAGE any more: the loop device detached, ntfs-3g exited. umount
# can return while the loop device still has writes to make to IMAGE (it
# is detached at its last close, which may be someone else's: a blkid
# probing it); a copy made then holds an ext4 that needs recovery, and a
# write landing later corrupts whatever IMAGE holds by then. At most 60 s.
unmount() {
	umount "$mnt"
	if [ -s "$work/loopdev" ]; then
		losetup -d "$(cat "$work/loopdev")"
		rm -f "$work/loopdev"
	fi
	local i=0
	while [ -n "$(losetup -j "$1")" ] || fuser -s "$1" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 600 ] || { echo "bench: $1 is still in use 60 s after its umount" >&2; return 1; }
		sleep 0.1
	done
	sync
}

# blank FILE SIZE: FILE, SIZE bytes of zeros (sparse).
blank() { rm -f "$1"; truncate -s "$2" "$1"; }
