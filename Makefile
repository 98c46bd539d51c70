# Millrace: the two commands of the README's quick start, plus benchmarks.
GO ?= go

.PHONY: run test bench

## run: run the main example
run:
	$(GO) run ./examples/keycount

## test: vet and run every test under the race detector
test:
	$(GO) vet ./...
	$(GO) test -race ./...

## bench: run every benchmark with allocation counts
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
