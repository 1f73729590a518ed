#!/bin/sh
# Build week-1 and week-2 test images for one filesystem.
#   [MODE=inplace|rename] scripts/build.sh ntfs|ext4 [SEED]
# Writes data/seedSEED/FS-w1.img, FS-w2.img, FS-changes.log
set -eu
fs=$1; seed=${2:-1}
top=$(cd "$(dirname "$0")/.." && pwd)
d=$top/data/seed$seed${MODE:+-$MODE}; mnt=$top/data/mnt-$fs
mkdir -p "$d" "$mnt"
w1=$d/$fs-w1.img; w2=$d/$fs-w2.img
mountit() {
	case $fs in
	ntfs) ntfs-3g "$1" "$mnt" ;;
	ext4) mount -o loop "$1" "$mnt" ;;
	esac
}
unmountit() { sync; umount "$mnt"; }
rm -f "$w1" "$w2"
truncate -s 768M "$w1"
case $fs in
ntfs) mkntfs -Q -F "$w1" >/dev/null ;;
ext4) mkfs.ext4 -q -F "$w1" ;;
esac
mountit "$w1"
python3 "$top/scripts/gran.py" fill "$mnt" 0.55
unmountit
cp --sparse=always "$w1" "$w2"
mountit "$w2"
python3 "$top/scripts/gran.py" mutate "$mnt" 0.10 "$seed" "$d/$fs-changes.log"
unmountit
ls -ls "$w1" "$w2"
