package main

import (
	"context"

	"github.com/millrace/millrace/appadmin"
)

// adminTool is the appadmin tool built into the example with its
// topology, so that
//
//	go run ./examples/wordcount describe
//	go run ./examples/wordcount describe --bootstrap-servers localhost:9092
//	go run ./examples/wordcount reset --bootstrap-servers localhost:9092 --dry-run
//
// print the topology and its internal topics, the application as a real
// cluster sees it, and what a reset would do. The default application id is
// the one run uses.
func adminTool() *appadmin.Tool {
	return &appadmin.Tool{Name: "wordcount", Topology: NewTopology, ApplicationID: "wordcount-example"}
}

// adminCommand runs the tool when args start with one of its commands and
// reports whether it did, with the exit status.
func adminCommand(args []string) (code int, ran bool) {
	if len(args) == 0 || !appadmin.IsCommand(args[0]) {
		return 0, false
	}
	return adminTool().Run(context.Background(), args), true
}
