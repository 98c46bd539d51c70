// Command millrace administers Millrace applications on their Kafka
// cluster, as Kafka Streams' kafka-streams-application-reset does and more:
//
//	millrace reset --application-id ID --bootstrap-servers HOST:PORT [--dry-run] [--state-dir DIR] [--force]
//	millrace describe --application-id ID --bootstrap-servers HOST:PORT
//	millrace help [reset|describe]
//
// reset moves the application's committed offsets of its input topics to
// their start (or --to-latest, --to-offset, --to-datetime, --by-duration,
// --shift-by), deletes its internal topics (changelogs, repartition and
// foreign-key topics) and, with --state-dir, its local state; describe
// prints its consumer group, members, offsets, lag and internal topics.
// See package appadmin for the rules, and for embedding the same commands
// in your own program so that they know its topology.
//
// It is pure Go (franz-go's client): go build ./cmd/millrace needs no cgo.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/millrace/millrace/appadmin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := appadmin.Main(ctx, os.Args[1:], nil)
	stop()
	os.Exit(code)
}
