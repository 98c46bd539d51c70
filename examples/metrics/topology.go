package main

import (
	"strings"
	"unicode"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// Topics of the example; the App adds its repartition topic
// (<application-id>-word-counts-repartition) and the store's changelog
// (<application-id>-word-counts-changelog).
const (
	LinesTopic = "metrics-lines"       // key: a line id, value: a Line in JSON
	CountTopic = "metrics-word-counts" // key: word, value: count so far (int64)
	Partitions = 3                     // of both topics
)

// Line is one input record.
type Line struct {
	Text string `json:"text"`
}

// NewTopology counts words: lines are decoded from JSON (a record that is
// not JSON fails to deserialize, and the App's handler skips it, which the
// metrics count), split into words, repartitioned by word and counted in a
// RocksDB store without a cache, so every count reaches the output and the
// changelog.
func NewTopology() (*processor.Topology, error) {
	b := dsl.NewBuilder()
	lines := dsl.FromTopics(b, []string{LinesTopic}, record.String(), record.JSON[Line]())
	words := dsl.FlatMapValues(lines, func(l Line) []string { return Words(l.Text) })
	counts := dsl.Count(dsl.GroupBy(words, func(_, word string) string { return word }),
		dsl.As("word-counts"), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(counts), CountTopic)
	return b.Build()
}

// Words lower-cases a line and splits it at anything but letters and digits.
func Words(line string) []string {
	return strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
