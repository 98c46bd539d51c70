package main

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is what a row runs.
type kind int

const (
	kindRaw         kind = iota // librdkafka consume -> produce loop (baseline)
	kindPassthrough             // Millrace source -> sink
	kindCount                   // Millrace count per key, RocksDB + cache
	kindGoka                    // Goka count per key
	kindWindowed                // Millrace 60 s tumbling count, RocksDB + cache
	kindStreamJoin              // Millrace 1 s stream-stream join
	kindTableJoin               // Millrace stream-table join
	kindRawRead                 // librdkafka consumer reading a topic (restore's baseline)
	kindRestore                 // Millrace App restoring a changelog-backed store
)

// shape is what a row's input looks like.
type shape int

const (
	shapeKeys  shape = iota // one input, keys drawn from keySpace
	shapePairs              // two inputs, pair i has a key of its own on both
	shapeTable              // a table topic with every key once, then the stream
	shapeLog                // a changelog of distinct keys (restore rows)
)

// rowDef is a row as declared; a row as run may carry a partition suffix.
type rowDef struct {
	name string
	kind kind
	eos  bool
	// base is the baseline the row's figures are divided by ("" for a
	// baseline). A row run with /pN is divided by base/pN.
	base       string
	valueBytes int // 0: -value-bytes
	bigKeys    bool
	big        bool // -big-records records instead of -records
	doc        string
}

var rowDefs = []rowDef{
	{name: "raw", kind: kindRaw, doc: "baseline: tuned librdkafka consume -> produce loop, at-least-once (idempotent producer, commits only delivered records)"},
	{name: "passthrough", kind: kindPassthrough, base: "raw", doc: "Millrace source -> sink, bytes serdes"},
	{name: "count", kind: kindCount, base: "raw", doc: "Millrace count per key (processor API), RocksDB + cache, forwards every new count"},
	{name: "goka-count", kind: kindGoka, base: "raw", doc: "Goka v1.1.14 count per key (DefineGroup: Input + Persist + Output), LevelDB storage"},
	{name: "windowed-count", kind: kindWindowed, base: "raw", doc: "Millrace DSL count per key in 60 s tumbling windows, RocksDB + cache"},
	{name: "stream-join", kind: kindStreamJoin, base: "raw", doc: "Millrace DSL inner join of two streams within 1 s, RocksDB window stores"},
	{name: "table-join", kind: kindTableJoin, base: "raw", doc: "Millrace DSL stream-table inner join, table (every key) pre-loaded, RocksDB + cache"},
	{name: "count-1m-keys", kind: kindCount, base: "raw", bigKeys: true, big: true, doc: "count over 1 M distinct keys, -big-records records"},
	{name: "raw-eos", kind: kindRaw, eos: true, doc: "baseline: the raw loop with a transactional producer, offsets sent to each transaction, a commit every 100 ms, read_committed"},
	{name: "passthrough-eos", kind: kindPassthrough, eos: true, base: "raw-eos", doc: "passthrough under exactly-once v2"},
	{name: "count-eos", kind: kindCount, eos: true, base: "raw-eos", doc: "count under exactly-once v2"},
	{name: "raw-1kb", kind: kindRaw, valueBytes: 1024, doc: "baseline: raw with 1 KB values"},
	{name: "passthrough-1kb", kind: kindPassthrough, valueBytes: 1024, base: "raw-1kb", doc: "passthrough with 1 KB values"},
	{name: "raw-read", kind: kindRawRead, big: true, doc: "baseline: a tuned librdkafka consumer reading a changelog of -big-records records from start to end"},
	{name: "restore", kind: kindRestore, big: true, base: "raw-read", doc: "an App with an empty state dir restoring a RocksDB store from a changelog of -big-records records, until RUNNING"},
}

// defaultPartitionRows are the rows also run at other partition counts by
// default.
var defaultPartitionRows = []string{"raw", "passthrough", "count"}

// defaultPartitionCounts are the counts they are run at besides -partitions.
var defaultPartitionCounts = []int{1, 16}

// bigKeySpace is the key space of the 1 M keys row.
const bigKeySpace = 1_000_000

// row is one row as run: its declaration plus the resolved shape.
type row struct {
	rowDef
	name       string // as given, e.g. count/p16
	base       string // resolved baseline, e.g. raw/p16
	partitions int
	valueBytes int
	keySpace   int
	records    int // input records of the throughput phase (both sides of a join)
	shape      shape
	// wrapper runs the App on confluent-kafka-go's producer (a row named
	// with the suffix +wrapper; see wrapperSuffix).
	wrapper bool
}

// wrapperSuffix, at the end of an App row's name, runs it on
// confluent-kafka-go's producer (streams' unexported switch) instead of
// the App's own client, against the same baseline.
const wrapperSuffix = "+wrapper"

// isApp reports whether a kind runs a Millrace App.
func (k kind) isApp() bool {
	switch k {
	case kindRaw, kindGoka, kindRawRead:
		return false
	}
	return true
}

// outputs is how many output records the throughput phase waits for.
func (r row) outputs() int {
	if r.shape == shapePairs {
		return r.records / 2
	}
	return r.records
}

// hasLatency says whether the row has a latency phase: windowed counts
// leave cache-compacted, at commits; restore rows move no records.
func (r row) hasLatency() bool {
	switch r.kind {
	case kindWindowed, kindRawRead, kindRestore:
		return false
	}
	return true
}

// AllScenarios returns the row names of the default run, in order.
func AllScenarios() []string {
	var out []string
	for _, d := range rowDefs {
		out = append(out, d.name)
	}
	for _, n := range defaultPartitionCounts {
		for _, r := range defaultPartitionRows {
			out = append(out, fmt.Sprintf("%s/p%d", r, n))
		}
	}
	return out
}

// defByName finds a declared row.
func defByName(name string) (rowDef, bool) {
	for _, d := range rowDefs {
		if d.name == name {
			return d, true
		}
	}
	return rowDef{}, false
}

// parseRow resolves a row name ("count", "count/p16") against the options.
func parseRow(name string, o *Options) (row, error) {
	if plain, ok := strings.CutSuffix(name, wrapperSuffix); ok {
		r, err := parseRow(plain, o)
		if err != nil {
			return row{}, err
		}
		if !r.kind.isApp() {
			return row{}, fmt.Errorf("scenario %q: %s applies to rows that run an App, not %s", name, wrapperSuffix, plain)
		}
		r.name, r.wrapper = name, true
		return r, nil
	}
	baseName, suffix, hasSuffix := strings.Cut(name, "/")
	d, ok := defByName(baseName)
	if !ok {
		var known []string
		for _, d := range rowDefs {
			known = append(known, d.name)
		}
		return row{}, fmt.Errorf("unknown scenario %q (known: %s; any of them with /pN runs it on N partitions)", name, strings.Join(known, ", "))
	}
	r := row{rowDef: d, name: name, base: d.base, partitions: o.Partitions, valueBytes: o.ValueBytes,
		keySpace: distinctKeys, records: o.Records}
	if hasSuffix {
		n, err := strconv.Atoi(strings.TrimPrefix(suffix, "p"))
		if !strings.HasPrefix(suffix, "p") || err != nil || n <= 0 {
			return row{}, fmt.Errorf("scenario %q: the suffix must be /pN with N a positive partition count", name)
		}
		r.partitions = n
		if r.base != "" {
			r.base += "/" + suffix
		}
	}
	if d.valueBytes > 0 {
		r.valueBytes = d.valueBytes
	}
	if d.big {
		r.records = o.BigRecords
	}
	if d.bigKeys {
		r.keySpace = bigKeySpace
	}
	switch d.kind {
	case kindStreamJoin:
		r.shape = shapePairs
		r.records -= r.records % 2
	case kindTableJoin:
		r.shape = shapeTable
	case kindRawRead, kindRestore:
		r.shape = shapeLog
	}
	return r, nil
}
