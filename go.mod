module github.com/millrace/millrace

go 1.26

require (
	github.com/google/btree v1.1.3
	go.uber.org/zap v1.28.0
)

require (
	github.com/linxGnu/grocksdb v1.7.15 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
)
