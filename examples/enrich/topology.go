package main

import (
	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// Topics of the example. Orders and customers are keyed by customer id
// and co-partitioned (same partition count, same partitioner); products
// are a global table, keyed by product id, read whole by every instance.
const (
	OrdersTopic    = "orders"          // key: customer id, value: Order (JSON)
	CustomersTopic = "customers"       // key: customer id, value: Customer (JSON)
	ProductsTopic  = "products"        // key: product id, value: Product (JSON)
	EnrichedTopic  = "orders-enriched" // key: customer id, value: Enriched (JSON)
)

// Order is one order of a customer.
type Order struct {
	ID        string `json:"id"`
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// Customer is the customers table's value.
type Customer struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
}

// Product is the products table's value.
type Product struct {
	Name  string `json:"name"`
	Price int64  `json:"price_cents"`
}

// Enriched is an order with its customer and product.
type Enriched struct {
	Order    Order  `json:"order"`
	Customer string `json:"customer"`
	Tier     string `json:"tier"`
	Product  string `json:"product,omitempty"`
	Total    int64  `json:"total_cents,omitempty"`
}

// NewTopology enriches each order with its customer (a stream-table join:
// orders of unknown customers are dropped and counted) and its product (a
// left join with a global table: an unknown product leaves the product
// fields empty).
func NewTopology() (*processor.Topology, error) {
	b := dsl.NewBuilder()
	dsl.RegisterSerde(b, record.JSON[Enriched]()) // for the sink: the joins made the type

	orders := dsl.FromTopics(b, []string{OrdersTopic}, record.String(), record.JSON[Order]())
	customers := dsl.TableFrom(b, CustomersTopic, record.String(), record.JSON[Customer](), dsl.As("customers"))
	products := dsl.GlobalTableFrom(b, ProductsTopic, record.String(), record.JSON[Product](), dsl.As("products"))

	withCustomer := dsl.JoinTable(orders, customers, func(o Order, c Customer) Enriched {
		return Enriched{Order: o, Customer: c.Name, Tier: c.Tier}
	})
	enriched := dsl.LeftJoinGlobal(withCustomer, products,
		func(_ string, e Enriched) string { return e.Order.ProductID },
		func(e Enriched, p *Product) Enriched {
			if p != nil {
				e.Product, e.Total = p.Name, p.Price*int64(e.Order.Quantity)
			}
			return e
		})
	dsl.To(enriched, EnrichedTopic)
	return b.Build()
}
