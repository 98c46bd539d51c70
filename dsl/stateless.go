package dsl

import (
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// The hottest stateless operators are processors of their own rather than
// processor.Func closures: the user's function is then the only indirect
// call per record, as in a hand-written processor.

// addProc adds a processor made by supplier, fed from s.
func addProc[KO, VO, K, V any](s Stream[K, V], prefix string, opts []Option, supplier processor.Supplier[K, V, KO, VO]) (string, *options) {
	o := collect(opts)
	name := s.b.nodeName(o, prefix)
	processor.AddProcessor(s.b.pb, name, supplier, s.node)
	return name, o
}

// filterProc forwards the records for which pred is keep.
type filterProc[K, V any] struct {
	ctx  processor.Context[K, V]
	pred func(K, V) bool
	keep bool
}

func (p *filterProc[K, V]) Init(ctx processor.Context[K, V]) error { p.ctx = ctx; return nil }
func (p *filterProc[K, V]) Close() error                           { return nil }
func (p *filterProc[K, V]) Process(r record.Record[K, V]) error {
	if p.pred(r.Key(), r.Value()) == p.keep {
		return p.ctx.Forward(r)
	}
	return nil
}

func filterSupplier[K, V any](pred func(K, V) bool, keep bool) processor.Supplier[K, V, K, V] {
	return func() processor.Processor[K, V, K, V] { return &filterProc[K, V]{pred: pred, keep: keep} }
}

// mapValuesProc replaces values with fn's (or fnKey's); a tombstone stays
// one, fn not called.
type mapValuesProc[K, V, VR any] struct {
	ctx   processor.Context[K, VR]
	fn    func(V) VR
	fnKey func(K, V) VR
}

func (p *mapValuesProc[K, V, VR]) Init(ctx processor.Context[K, VR]) error { p.ctx = ctx; return nil }
func (p *mapValuesProc[K, V, VR]) Close() error                            { return nil }
func (p *mapValuesProc[K, V, VR]) Process(r record.Record[K, V]) error {
	if r.ValueIsNull() {
		var zero VR
		return p.ctx.Forward(record.WithValue(r, zero).WithNullValue())
	}
	if p.fn != nil {
		return p.ctx.Forward(record.WithValue(r, p.fn(r.Value())))
	}
	return p.ctx.Forward(record.WithValue(r, p.fnKey(r.Key(), r.Value())))
}

func mapValuesSupplier[K, V, VR any](fn func(V) VR, fnKey func(K, V) VR) processor.Supplier[K, V, K, VR] {
	return func() processor.Processor[K, V, K, VR] { return &mapValuesProc[K, V, VR]{fn: fn, fnKey: fnKey} }
}
