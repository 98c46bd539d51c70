# Millrace: the two commands of the README's quick start, plus benchmarks.
# Both install what a fresh Debian machine lacks (librocksdb-dev) first.
GO ?= go

.PHONY: run test bench deps

## run: run the main example (word count on an embedded Kafka broker)
run: deps
	$(GO) run ./examples/wordcount

## test: vet and run every test under the race detector
test: deps
	$(GO) vet ./...
	$(GO) test -race ./...

## bench: run every benchmark with allocation counts
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

## deps: install system packages the build needs, if missing
deps:
	@./scripts/deps.sh
