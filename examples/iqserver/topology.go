package main

import (
	"strings"
	"unicode"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// Names of the example. The repartition topic by word is the App's own:
// <application-id>-word-counts-repartition, created at start.
const (
	LinesTopic    = "iq-lines"    // key: a line number, value: a line of text
	CountStore    = "word-counts" // word -> count, queried over HTTP
	ApplicationID = "iqserver-example"
)

// NewTopology splits lines into words, groups them by word (which
// repartitions, so each word is counted by one task, on one instance) and
// counts them in a RocksDB store, CountStore, whose changelog moves the
// counts with their task when an instance leaves.
func NewTopology() (*processor.Topology, error) {
	b := dsl.NewBuilder()
	lines := dsl.FromTopics(b, []string{LinesTopic}, record.String(), record.String())
	words := dsl.FlatMapValues(lines, Words)
	dsl.Count(dsl.GroupBy(words, func(_, word string) string { return word }), dsl.As(CountStore))
	return b.Build()
}

// Words lower-cases a line and splits it at anything but letters and digits.
func Words(line string) []string {
	return strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
