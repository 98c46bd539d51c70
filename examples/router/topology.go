package main

import (
	"encoding/json"
	"fmt"
	"regexp"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// Topics of the example.
const (
	OrdersTopic     = "orders"              // key: order id, value: an Order as JSON
	DeadLetterTopic = "orders-dead-letters" // records the router could not route, unchanged
)

// Order is the routed payload.
type Order struct {
	ID       string  `json:"id"`
	Category string  `json:"category"`
	Amount   float64 `json:"amount"`
}

// TopicFor is the output topic of a category.
func TopicFor(category string) string { return "orders-" + category }

var validCategory = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// NewTopology routes each order to the topic of its category, chosen from
// the value, and sends records it cannot route (malformed JSON, missing or
// invalid category) to the dead-letter topic unchanged, with a header that
// says why. Values stay bytes end to end, so what is routed is byte for
// byte what came in.
func NewTopology() (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "orders", record.Bytes(), record.Bytes(), OrdersTopic)
	processor.AddProcessor(b, "route", func() processor.Processor[[]byte, []byte, []byte, []byte] { return &router{} }, "orders")
	processor.AddSinkFunc(b, "by-category", func(r record.Record[[]byte, []byte]) string {
		cat, _ := r.Headers().Last("category")
		return TopicFor(string(cat))
	}, record.Bytes(), record.Bytes(), "route")
	processor.AddSink(b, "dead-letters", DeadLetterTopic, record.Bytes(), record.Bytes(), "route")
	return b.Build()
}

// router reads the category from the value and forwards to one child.
type router struct {
	ctx     processor.Context[[]byte, []byte]
	dropped int
}

func (r *router) Init(ctx processor.Context[[]byte, []byte]) error {
	r.ctx = ctx
	return nil
}

func (r *router) Process(rec record.Record[[]byte, []byte]) error {
	var o Order
	reason := ""
	switch {
	case rec.ValueIsNull():
		reason = "null value"
	case json.Unmarshal(rec.Value(), &o) != nil:
		reason = "malformed JSON"
	case !validCategory.MatchString(o.Category):
		reason = fmt.Sprintf("invalid category %q", o.Category)
	}
	if reason != "" {
		r.dropped++
		md, _ := r.ctx.RecordMetadata()
		r.ctx.Logger().Info("dead-lettering record", zap.String("reason", reason), zap.Stringer("record", md))
		return r.ctx.ForwardTo("dead-letters", rec.WithHeaders(rec.Headers().Add("dead-letter-reason", []byte(reason))))
	}
	return r.ctx.ForwardTo("by-category", rec.WithHeaders(rec.Headers().Add("category", []byte(o.Category))))
}

func (r *router) Close() error { return nil }
