package dsl_test

import (
	"fmt"
	"log"
	"strings"

	"go.uber.org/zap"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

// Word count: a stream from a topic, a key change, a count and a sink, run
// on the test driver.
func ExampleNewBuilder() {
	// README: dsl
	b := dsl.NewBuilder()
	lines := dsl.FromTopics(b, []string{"text-lines"}, record.String(), record.String())
	words := dsl.FlatMapValues(lines, strings.Fields)
	counts := dsl.Count(dsl.GroupBy(words, func(_, w string) string { return w }), dsl.As("word-counts"))
	dsl.To(dsl.ToStream(counts), "text-word-counts")
	topo, err := b.Build() // a processor.Topology: testdriver.New(topo, ...) or streams.New(topo, ...)
	// README end
	if err != nil {
		log.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, "text-lines", record.String(), record.String())
	for _, line := range []string{"the mill race", "the mill wheel"} {
		if err := in.Pipe("", line, 0); err != nil {
			log.Fatal(err)
		}
	}
	got, err := testdriver.ReadKeyValuesToMap(testdriver.CreateOutputTopic(d, "text-word-counts", record.String(), record.Int64()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got)
	// Output: map[mill:2 race:1 the:2 wheel:1]
}

// Order is an order of a customer, keyed by customer id.
type Order struct {
	ID        string `json:"id"`
	ProductID string `json:"product_id"`
}

// Customer is the customers table's value.
type Customer struct {
	Name string `json:"name"`
}

// Product is the products global table's value.
type Product struct {
	Name string `json:"name"`
}

// Enriched is an order with its customer's and product's names.
type Enriched struct {
	Order    Order  `json:"order"`
	Customer string `json:"customer"`
	Product  string `json:"product"`
}

// auditor is a custom processor in a DSL pipeline: it forwards every
// enriched order and logs those without a known product.
type auditor struct {
	ctx processor.Context[string, Enriched]
}

func newAuditor() processor.Processor[string, Enriched, string, Enriched] { return &auditor{} }

func (a *auditor) Init(ctx processor.Context[string, Enriched]) error { a.ctx = ctx; return nil }

func (a *auditor) Process(r record.Record[string, Enriched]) error {
	if r.Value().Product == "" {
		a.ctx.Logger().Info("order without a known product", zap.String("order", r.Value().Order.ID))
	}
	return a.ctx.Forward(r)
}

func (a *auditor) Close() error { return nil }

// A stream joined with a table (co-partitioned, by key) and a global table
// (by a key taken from the value), then a custom processor.
func ExampleJoinTable() {
	b := dsl.NewBuilder()
	// README: joins
	orders := dsl.FromTopics(b, []string{"orders"}, record.String(), record.JSON[Order]())
	customers := dsl.TableFrom(b, "customers", record.String(), record.JSON[Customer](), dsl.As("customers"))
	products := dsl.GlobalTableFrom(b, "products", record.String(), record.JSON[Product]())
	withCustomer := dsl.JoinTable(orders, customers, func(o Order, c Customer) Enriched { return Enriched{Order: o, Customer: c.Name} })
	enriched := dsl.LeftJoinGlobal(withCustomer, products, func(_ string, e Enriched) string { return e.Order.ProductID },
		func(e Enriched, p *Product) Enriched {
			if p != nil {
				e.Product = p.Name
			}
			return e
		})
	audited := dsl.Process(enriched, newAuditor) // any processor.Supplier: punctuators and stores mix freely
	dsl.To(audited, "orders-enriched", dsl.ValueSerde(record.JSON[Enriched]()))
	// README end
	topo, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	must(testdriver.CreateInputTopic(d, "customers", record.String(), record.JSON[Customer]()).Pipe("c1", Customer{Name: "Ada"}, 0))
	must(testdriver.CreateInputTopic(d, "products", record.String(), record.JSON[Product]()).Pipe("p1", Product{Name: "millstone"}, 0))
	in := testdriver.CreateInputTopic(d, "orders", record.String(), record.JSON[Order]())
	must(in.Pipe("c1", Order{ID: "o1", ProductID: "p1"}, 1))
	must(in.Pipe("c2", Order{ID: "o2", ProductID: "p1"}, 2)) // no such customer: dropped by the inner join
	must(in.Pipe("c1", Order{ID: "o3", ProductID: "p9"}, 3)) // no such product: kept by the left join
	rs, err := testdriver.CreateOutputTopic(d, "orders-enriched", record.String(), record.JSON[Enriched]()).ReadRecords()
	must(err)
	for _, r := range rs {
		fmt.Printf("%s: %+v\n", r.Key(), r.Value())
	}
	// Output:
	// c1: {Order:{ID:o1 ProductID:p1} Customer:Ada Product:millstone}
	// c1: {Order:{ID:o3 ProductID:p9} Customer:Ada Product:}
}
