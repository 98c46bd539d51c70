package window

import (
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// TableUpdater returns a supplier of processors that keep a key-value store
// equal to a table topic: each record puts its value under its key, a
// tombstone deletes it, a null key is dropped and counted. Feed it the table
// topic's source (co-partitioned with the streams that look it up) and
// connect the store to it and to the lookups.
func TableUpdater[K, V any](storeName string) processor.Supplier[K, V, K, V] {
	return func() processor.Processor[K, V, K, V] { return &tableUpdater[K, V]{storeName: storeName} }
}

type tableUpdater[K, V any] struct {
	storeName string
	ctx       processor.Context[K, V]
	s         store.KeyValueStore[K, V]
}

func (u *tableUpdater[K, V]) Init(ctx processor.Context[K, V]) (err error) {
	u.ctx = ctx
	u.s, err = processor.KeyValueStore[K, V](ctx, u.storeName)
	return err
}

func (u *tableUpdater[K, V]) Process(r record.Record[K, V]) error {
	if r.KeyIsNull() {
		skip(u.ctx, r)
		return nil
	}
	if r.ValueIsNull() {
		_, _, err := u.s.Delete(r.Key())
		return err
	}
	return u.s.Put(r.Key(), r.Value())
}

func (u *tableUpdater[K, V]) Close() error { return nil }

// Lookup returns a supplier of processors that join each stream record with
// the current value of its key in the key-value store named storeName (a
// table kept by TableUpdater, or a global store). With inner set, records
// whose key has no value are dropped (counted as "no-match"); otherwise the
// joiner gets a nil table value (a left join). The output keeps the
// record's key and timestamp. A nil joiner makes the processor's Init fail
// with ErrNilFunction.
func Lookup[K, V, VT, VR any](storeName string, inner bool, joiner func(key K, value V, table *VT) VR) processor.Supplier[K, V, K, VR] {
	return LookupBy(storeName, inner, func(key K, _ V) (K, bool) { return key, true }, joiner)
}

// LookupBy is Lookup with the table key derived from the record (for global
// stores, which hold every key: enrich by any field of the value). keyOf
// returning false means there is nothing to look up (treated as no match);
// a nil keyOf or joiner makes the processor's Init fail with ErrNilFunction.
func LookupBy[K, V, KT, VT, VR any](storeName string, inner bool, keyOf func(key K, value V) (KT, bool), joiner func(key K, value V, table *VT) VR) processor.Supplier[K, V, K, VR] {
	return func() processor.Processor[K, V, K, VR] {
		return &lookup[K, V, KT, VT, VR]{storeName: storeName, inner: inner, keyOf: keyOf, joiner: joiner}
	}
}

// DropNoMatch is the reason inner lookups count records without a match.
const DropNoMatch = "no-match"

type lookup[K, V, KT, VT, VR any] struct {
	storeName string
	inner     bool
	keyOf     func(K, V) (KT, bool)
	joiner    func(K, V, *VT) VR
	ctx       processor.Context[K, VR]
	table     store.ReadOnlyKeyValueStore[KT, VT]
}

func (l *lookup[K, V, KT, VT, VR]) Init(ctx processor.Context[K, VR]) error {
	l.ctx = ctx
	switch {
	case l.keyOf == nil:
		return nilFunc("LookupBy: keyOf")
	case l.joiner == nil:
		return nilFunc("Lookup: joiner")
	}
	s, err := processor.KeyValueStore[KT, VT](ctx, l.storeName)
	if err != nil {
		return err
	}
	l.table = s
	return nil
}

func (l *lookup[K, V, KT, VT, VR]) Process(r record.Record[K, V]) error {
	if skip(l.ctx, r) {
		return nil
	}
	var tv *VT
	if tk, ok := l.keyOf(r.Key(), r.Value()); ok {
		v, found, err := l.table.Get(tk)
		if err != nil {
			return err
		}
		if found {
			tv = &v
		}
	}
	if tv == nil && l.inner {
		l.ctx.Dropped(DropNoMatch)
		return nil
	}
	return l.ctx.Forward(record.WithValue(r, l.joiner(r.Key(), r.Value(), tv)))
}

func (l *lookup[K, V, KT, VT, VR]) Close() error { return nil }
