#!/bin/sh
# Print metadata regions of an image as "name byte_offset byte_length" lines,
# for measure -regions.   scripts/regions.sh ntfs|ext4 IMAGE
set -eu
fs=$1; img=$2
case $fs in
ntfs)
	for i in 0:\$MFT 1:\$MFTMirr 2:\$LogFile 5:root-dir 6:\$Bitmap 9:\$Secure 11:\$Extend; do
		n=${i%%:*}; name=${i#*:}
		ntfsinfo -v -i "$n" "$img" 2>/dev/null | awk -v name="$name" '
			function hex(s,   i, v) { s = tolower(substr(s, 3)); v = 0; for (i = 1; i <= length(s); i++) v = v*16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
			/Runlist:/ {on=1; next}
			on && match($0, /0x[0-9a-f]+[ \t]+0x[0-9a-f]+[ \t]+0x[0-9a-f]+/) {
				split(substr($0, RSTART, RLENGTH), f, /[ \t]+/)
				if (f[2] != "0xffffffffffffffff") printf "%s %d %d\n", name, hex(f[2])*4096, hex(f[3])*4096
			}
			/^$|End of inode|Dumping attribute/ {on=0}'
	done
	;;
ext4)
	bs=$(dumpe2fs -h "$img" 2>/dev/null | awk -F: '/^Block size/ {gsub(/ /,"",$2); print $2}')
	# journal
	debugfs -R "blocks <8>" "$img" 2>/dev/null | tr ' ' '\n' | awk -v bs="$bs" 'NF { if ($1 == last+1 && n) { len += bs } else { if (n) print "journal", start, len; start = $1*bs; len = bs; n = 1 } last = $1 } END { if (n) print "journal", start, len }'
	dumpe2fs "$img" 2>/dev/null | awk -v bs="$bs" '
		function rng(name, s,   a) { n = split(s, a, "-"); if (n == 1) a[2] = a[1]; printf "%s %d %d\n", name, a[1]*bs, (a[2]-a[1]+1)*bs }
		/superblock at/ { match($0, /superblock at [0-9]+/); b=substr($0, RSTART+15, RLENGTH-15); printf "sb+gdt %d %d\n", b*bs, bs
			if (match($0, /Group descriptors at [0-9-]+/)) rng("sb+gdt", substr($0, RSTART+21, RLENGTH-21))
			if (match($0, /Reserved GDT blocks at [0-9-]+/)) rng("sb+gdt", substr($0, RSTART+23, RLENGTH-23)) }
		/Block bitmap at/ { match($0, /Block bitmap at [0-9]+/); printf "bitmaps %d %d\n", substr($0, RSTART+16, RLENGTH-16)*bs, bs }
		/Inode bitmap at/ { match($0, /Inode bitmap at [0-9]+/); printf "bitmaps %d %d\n", substr($0, RSTART+16, RLENGTH-16)*bs, bs }
		/Inode table at/ { match($0, /Inode table at [0-9-]+/); rng("inode-table", substr($0, RSTART+15, RLENGTH-15)) }'
	;;
esac
