module github.com/rewind-backup/rewind/bench/codec

go 1.27.4

require (
	github.com/klauspost/compress v1.18.5
	github.com/pierrec/lz4/v4 v4.1.33
)
