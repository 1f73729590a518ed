#!/bin/sh
# SMB read benchmark: a private smbd on 127.0.0.1 (started with rewind's
# scripts/samba), a 512 MiB file, ReadAt in 64K/256K/1M/4M requests.
#   scripts/smb.sh [PORT]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/smb; port=${1:-44591}
samba=$(cd "$(dirname "$0")/../../.." && pwd)/scripts/samba
stop() {
	# stop by the recorded pid only (scripts/samba stop also pkills by pattern)
	[ -f "$dir/smbd.pid" ] || return 0
	pid=$(cat "$dir/smbd.pid")
	kill "$pid" 2>/dev/null || true
	i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/smbd.pid"
}
trap stop EXIT INT TERM
"$samba" start "$dir" "$port"
[ -s "$dir/share/big" ] || head -c 512M /dev/urandom >"$dir/share/big"
for args in "-delay 0" "-delay 100us" "-delay 250us" "-delay 250us -inflight 32"; do
	echo "### smbbench $args"
	timeout 600 "$top/measure/smbbench/smbbench" -addr 127.0.0.1:"$port" -user "$(cat "$dir/user")" \
		-pass "$(cat "$dir/password")" -file big -reps ${REPS:-5} $args
done
