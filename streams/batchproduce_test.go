package streams_test

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// Tasks hand their records to the producer in batches, and records near
// message.max.bytes on their own after the batch: whichever way a record
// goes, the sink's output is the input in order, with null and empty keys
// and values kept apart and headers carried, under both guarantees and on
// the record-by-record path the App falls back to, on either producer
// client.
func TestBatchedOutputKeepsOrderNullsEmptiesAndHeadersAcrossLargeRecords(t *testing.T) {
	const n = 3000
	var in []record.Record[[]byte, []byte]
	for i := range n {
		var key, value []byte
		switch {
		case i%7 == 0: // null key
		case i%5 == 0:
			key = []byte{}
		default:
			key = []byte("k" + strconv.Itoa(i))
		}
		switch {
		case i%500 == 250:
			value = bytes.Repeat([]byte{byte(i)}, 999_000) // over the batch's limit, under message.max.bytes
		case i%11 == 0: // null value
		case i%13 == 0:
			value = []byte{}
		default:
			value = []byte("v" + strconv.Itoa(i))
		}
		r, err := record.New(key, value, int64(1000+i))
		must(t, err)
		if key == nil {
			r = r.WithNullKey()
		}
		if value == nil {
			r = r.WithNullValue()
		}
		in = append(in, r.WithHeaders(record.Headers{{Key: "i", Value: []byte(strconv.Itoa(i))}}))
	}
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnceV2} {
		for _, variant := range []string{"batched", "record-by-record", "batched-wrapper-client", "record-by-record-wrapper-client"} {
			batched := variant == "batched" || variant == "batched-wrapper-client"
			own := variant == "batched" || variant == "record-by-record"
			name := g.String() + "/" + variant
			t.Run(name, func(t *testing.T) {
				c := cluster(t, map[string]int32{"in": 1, "out": 1})
				must(t, kafkatest.Produce(c, "in", record.Bytes(), record.Bytes(), in...))
				b := processor.NewBuilder()
				processor.AddSource(b, "in", record.Bytes(), record.Bytes(), "in")
				processor.AddSink(b, "out", "out", record.Bytes(), record.Bytes(), "in")
				topo, err := b.Build()
				must(t, err)
				cfg := streams.Config{ApplicationID: "batched", BootstrapServers: c.Bootstrap(), ProcessingGuarantee: g,
					CommitInterval: 50 * time.Millisecond}
				if !batched {
					streams.ProduceRecordByRecord(&cfg)
				}
				if own {
					streams.OwnProducer(&cfg)
				} else {
					streams.WrapperProducer(&cfg)
				}
				app := start(t, topo, cfg)
				out, err := kafkatest.Read(c, "out", record.Bytes(), record.Bytes(), n, kafkatest.ReadOptions{Timeout: 60 * time.Second})
				must(t, err)
				must(t, app.stop(t))
				for i, o := range out {
					w := in[i]
					if o.KeyIsNull() != w.KeyIsNull() || !bytes.Equal(o.Key(), w.Key()) ||
						o.ValueIsNull() != w.ValueIsNull() || !bytes.Equal(o.Value(), w.Value()) ||
						o.Timestamp() != w.Timestamp() || lastHeaderOf(o, "i") != strconv.Itoa(i) {
						t.Fatalf("output %d: key %s, %d value bytes (nil %v), ts %d, header i=%q; want input %d: key %s, %d value bytes (nil %v), ts %d",
							i, show(o), len(o.Value()), o.ValueIsNull(), o.Timestamp(), lastHeaderOf(o, "i"),
							i, show(w), len(w.Value()), w.ValueIsNull(), w.Timestamp())
					}
				}
			})
		}
	}
}

func lastHeaderOf(r record.Record[[]byte, []byte], key string) string {
	v, _ := r.Headers().Last(key)
	return string(v)
}

func show(r record.Record[[]byte, []byte]) string {
	if r.KeyIsNull() {
		return "null"
	}
	return fmt.Sprintf("%q", r.Key())
}
