#!/bin/sh
# Combine data/seed1 and data/seed2 results into one table per filesystem.
#   scripts/summarize.sh ntfs-result|ext4-result|ext4-keepjournal-result
top=$(cd "$(dirname "$0")/.." && pwd)
f=$1
echo "| candidate | new MiB s1 / s2 | ÷ ideal s1 / s2 | % of w1 used | new lz4 MiB | blobs/GiB used | manifest @45 B, MiB/GiB |"
echo "|---|---|---|---|---|---|---|"
paste -d'\n' /dev/null >/dev/null
awk -F'|' 'FNR == 1 { file++ } /^\| (fixed|restic|FastCDC)/ {
	k = $2; gsub(/^ +| +$/, "", k); if (file == 1) order[++n] = k
	nb[k, file] = $3 + 0; r[k, file] = $5 + 0; pu[k, file] = $7; lz[k, file] = $4 + 0; bg[k, file] = $8 + 0 }
END { for (i = 1; i <= n; i++) { k = order[i]; gsub(/ /, "", pu[k,1]); gsub(/ /, "", pu[k,2])
	printf "| %s | %.1f / %.1f | %.2f / %.2f | %s / %s | %.1f | %d | %.2f |\n", k, nb[k,1], nb[k,2], r[k,1], r[k,2], pu[k,1], pu[k,2], lz[k,1], bg[k,1], bg[k,1]*45/1048576 } }' \
	"$top/data/seed1/$f.md" "$top/data/seed2/$f.md"
