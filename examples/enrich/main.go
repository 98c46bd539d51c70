// Command enrich enriches orders with Millrace's DSL: each order is joined
// with its customer (a table, co-partitioned with the orders) and its
// product (a global table, read whole by every instance), and written to
// orders-enriched.
//
// By default it starts an embedded Kafka broker, writes customers and
// products, starts the application, writes orders, prints the enriched
// orders and exits. With -brokers it does the same against a real cluster.
//
//	go run ./examples/enrich
//	go run ./examples/enrich -brokers localhost:9092
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

func main() {
	brokers := flag.String("brokers", "", "Kafka bootstrap servers; empty starts an embedded broker")
	stateDir := flag.String("state-dir", "", "state directory; empty uses a temporary one")
	verbose := flag.Bool("v", false, "log at info level")
	flag.Parse()
	if _, err := run(*brokers, *stateDir, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "enrich:", err)
		os.Exit(1)
	}
}

var (
	customers = map[string]Customer{"c1": {Name: "Ada", Tier: "gold"}, "c2": {Name: "Grace", Tier: "silver"}}
	products  = map[string]Product{"p1": {Name: "millstone", Price: 12_000}, "p2": {Name: "water wheel", Price: 90_000}}
	orders    = []struct {
		customer string
		order    Order
	}{
		{"c1", Order{ID: "o1", ProductID: "p1", Quantity: 2}},
		{"c2", Order{ID: "o2", ProductID: "p2", Quantity: 1}},
		{"c3", Order{ID: "o3", ProductID: "p1", Quantity: 1}}, // unknown customer: dropped by the inner join
		{"c1", Order{ID: "o4", ProductID: "p9", Quantity: 5}}, // unknown product: kept, without product
	}
)

// run returns the enriched orders by order id.
func run(brokers, stateDir string, verbose bool) (map[string]Enriched, error) {
	cluster, err := kafkatest.StartOrConnect(brokers, kafkatest.Config{Topics: map[string]int32{
		OrdersTopic: 3, CustomersTopic: 3, ProductsTopic: 1, EnrichedTopic: 3}})
	if err != nil {
		return nil, err
	}
	defer cluster.Close()
	if stateDir == "" {
		if stateDir, err = os.MkdirTemp("", "enrich-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(stateDir)
	}
	logger := zap.NewNop()
	if verbose {
		logger, _ = zap.NewDevelopment()
	}
	// The tables first, timestamped before the orders: the App joins in
	// timestamp order, and the global table is loaded before any task runs.
	start := time.Now().Add(-time.Minute)
	if err := produceJSON(cluster, CustomersTopic, customers, start); err != nil {
		return nil, err
	}
	if err := produceJSON(cluster, ProductsTopic, products, start); err != nil {
		return nil, err
	}
	topo, err := NewTopology()
	if err != nil {
		return nil, err
	}
	fmt.Print(topo.Describe())
	app, err := streams.New(topo, streams.Config{ApplicationID: "enrich-example", BootstrapServers: cluster.Bootstrap(),
		StateDir: stateDir, CommitInterval: 200 * time.Millisecond, Logger: logger})
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()

	var recs []record.Record[string, Order]
	for i, o := range orders {
		r, err := record.New(o.customer, o.order, start.Add(time.Duration(i+1)*time.Second).UnixMilli())
		if err != nil {
			app.Close()
			return nil, err
		}
		recs = append(recs, r)
	}
	fmt.Printf("writing %d orders to %s\n", len(recs), OrdersTopic)
	if err := kafkatest.Produce(cluster, OrdersTopic, record.String(), record.JSON[Order](), recs...); err != nil {
		app.Close()
		return nil, err
	}
	got := map[string]Enriched{}
	readErr := kafkatest.ReadUntil(cluster, []string{EnrichedTopic}, record.String(), record.JSON[Enriched](),
		kafkatest.ReadOptions{Timeout: 60 * time.Second}, func(_ string, r record.Record[string, Enriched]) bool {
			got[r.Value().Order.ID] = r.Value()
			return len(got) == 3 // o1, o2, o4; o3 has no customer
		})
	closeErr := app.Close()
	if err := <-done; err != nil && closeErr == nil {
		closeErr = err
	}
	if readErr != nil {
		return nil, readErr
	}
	if closeErr != nil {
		return nil, closeErr
	}
	ids := make([]string, 0, len(got))
	for id := range got {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Println("enriched orders:")
	for _, id := range ids {
		e := got[id]
		fmt.Printf("  %s  %-6s %-6s  %d × %-12q %8.2f\n", id, e.Customer, e.Tier, e.Order.Quantity, e.Product, float64(e.Total)/100)
	}
	return got, nil
}

func produceJSON[V any](cluster *kafkatest.Cluster, topic string, values map[string]V, at time.Time) error {
	var recs []record.Record[string, V]
	for k, v := range values {
		r, err := record.New(k, v, at.UnixMilli())
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	return kafkatest.Produce(cluster, topic, record.String(), record.JSON[V](), recs...)
}
