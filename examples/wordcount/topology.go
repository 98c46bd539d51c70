package main

import (
	"strings"
	"unicode"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// Topics of the example. The repartition topic by word is the App's own:
// <application-id>-word-counts-repartition, created at start.
const (
	LinesTopic = "text-lines"       // key: none, value: a line of text
	CountTopic = "text-word-counts" // key: word, value: count so far (int64)
)

// NewTopology splits lines into words, groups them by word (which
// repartitions, so each word is counted by one task) and counts them in a
// cached RocksDB store, "word-counts", whose changelog makes the counts
// survive restarts and move with their task.
func NewTopology() (*processor.Topology, error) {
	b := dsl.NewBuilder()
	lines := dsl.FromTopics(b, []string{LinesTopic}, record.String(), record.String())
	words := dsl.FlatMapValues(lines, Words)
	counts := dsl.Count(dsl.GroupBy(words, func(_, word string) string { return word }), dsl.As("word-counts"))
	dsl.To(dsl.ToStream(counts), CountTopic)
	return b.Build()
}

// Words lower-cases a line and splits it at anything but letters and digits.
func Words(line string) []string {
	return strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
