package main

import (
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

func TestEnrichJoinsOrdersWithCustomersAndProducts(t *testing.T) {
	topo, err := NewTopology()
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cust := testdriver.CreateInputTopic(d, CustomersTopic, record.String(), record.JSON[Customer]())
	prod := testdriver.CreateInputTopic(d, ProductsTopic, record.String(), record.JSON[Product]())
	ord := testdriver.CreateInputTopic(d, OrdersTopic, record.String(), record.JSON[Order]())
	out := testdriver.CreateOutputTopic(d, EnrichedTopic, record.String(), record.JSON[Enriched]())
	for k, c := range customers {
		if err := cust.Pipe(k, c, 0); err != nil {
			t.Fatal(err)
		}
	}
	for k, p := range products {
		if err := prod.Pipe(k, p, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i, o := range orders {
		if err := ord.Pipe(o.customer, o.order, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	// A customer's later change enriches only later orders.
	if err := cust.Pipe("c2", Customer{Name: "Grace H.", Tier: "gold"}, 10); err != nil {
		t.Fatal(err)
	}
	if err := ord.Pipe("c2", Order{ID: "o5", ProductID: "p1", Quantity: 1}, 11); err != nil {
		t.Fatal(err)
	}
	recs, err := out.ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	want := []Enriched{
		{Order: orders[0].order, Customer: "Ada", Tier: "gold", Product: "millstone", Total: 24_000},
		{Order: orders[1].order, Customer: "Grace", Tier: "silver", Product: "water wheel", Total: 90_000},
		{Order: orders[3].order, Customer: "Ada", Tier: "gold"},
		{Order: Order{ID: "o5", ProductID: "p1", Quantity: 1}, Customer: "Grace H.", Tier: "gold", Product: "millstone", Total: 12_000},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d enriched orders, want %d: %v", len(recs), len(want), recs)
	}
	for i, r := range recs {
		if r.Value() != want[i] {
			t.Errorf("enriched[%d] = %+v, want %+v", i, r.Value(), want[i])
		}
	}
}

func TestRunOnEmbeddedBrokerEnrichesEveryKnownCustomer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	start := time.Now()
	got, err := run("", t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["o1"].Total != 24_000 || got["o4"].Product != "" || got["o2"].Customer != "Grace" {
		t.Fatalf("enriched %+v", got)
	}
	t.Logf("ran in %v", time.Since(start))
}
