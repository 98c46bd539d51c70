package dsl

import (
	"fmt"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// DropNoBranch is the reason a Split without an Otherwise branch counts a
// record no branch took (Kafka Streams drops it without a trace).
const DropNoBranch = "no-branch"

// Branch is one named branch of Split: the records its predicate accepts
// that no earlier branch took.
type Branch[K, V any] struct {
	name string
	pred func(key K, value V) bool
	// otherwise marks the default branch (a When with a nil predicate is
	// a mistake, not a default branch).
	otherwise bool
}

// When makes a branch named name taking the records pred accepts.
func When[K, V any](name string, pred func(key K, value V) bool) Branch[K, V] {
	return Branch[K, V]{name: name, pred: pred}
}

// Otherwise makes the default branch, named name: the records no other
// branch took. It must come last.
func Otherwise[K, V any](name string) Branch[K, V] {
	return Branch[K, V]{name: name, otherwise: true}
}

// Split sends each record to the first branch whose predicate accepts it
// (Kafka Streams' split().branch(...).defaultBranch()); a record no branch
// takes is dropped and counted (DropNoBranch), unless an Otherwise branch
// is last. The result maps
// each branch's name to its stream; branch nodes are named
// <prefix><branch name>, the split node <prefix> (or a generated name for
// an empty prefix).
func Split[K, V any](s Stream[K, V], prefix string, branches ...Branch[K, V]) map[string]Stream[K, V] {
	if s.b == nil {
		return nil
	}
	if len(branches) == 0 {
		s.b.problem(fmt.Errorf("%w: Split %q has no branches", ErrInvalidOperator, prefix))
		return nil
	}
	splitName := prefix
	if splitName == "" {
		splitName = s.b.newName("KSTREAM-BRANCH-")
	}
	names := make([]string, len(branches))
	seen := map[string]bool{}
	for i, br := range branches {
		switch {
		case br.name == "":
			s.b.problem(fmt.Errorf("%w: Split %q: branch %d has no name", ErrInvalidOperator, splitName, i))
		case seen[br.name]:
			s.b.problem(fmt.Errorf("%w: Split %q: branch %q twice", ErrInvalidOperator, splitName, br.name))
		case br.otherwise && i != len(branches)-1:
			s.b.problem(fmt.Errorf("%w: Split %q: the default branch %q must be last", ErrInvalidOperator, splitName, br.name))
		case !br.otherwise && br.pred == nil:
			s.b.problem(fmt.Errorf("%w: Split %q: branch %q has a nil predicate", ErrNilFunction, splitName, br.name))
		}
		seen[br.name] = true
		s.b.newName("KSTREAM-BRANCH-") // Kafka Streams uses up a name per branch
		names[i] = splitName + "-" + br.name
		if prefix != "" {
			names[i] = prefix + br.name
		}
	}
	preds := make([]func(K, V) bool, len(branches))
	for i, br := range branches {
		preds[i] = br.pred
	}
	processor.AddProcessor(s.b.pb, splitName, processor.Func(func(ctx processor.Context[K, V], r record.Record[K, V]) error {
		for i, p := range preds {
			if p == nil || p(r.Key(), r.Value()) { // nil: the default branch
				return ctx.ForwardTo(names[i], r)
			}
		}
		ctx.Dropped(DropNoBranch)
		return nil
	}), s.node)
	out := make(map[string]Stream[K, V], len(branches))
	for i, br := range branches {
		processor.AddProcessor(s.b.pb, names[i], processor.Func(func(ctx processor.Context[K, V], r record.Record[K, V]) error {
			return ctx.Forward(r)
		}), splitName)
		out[br.name] = derive[K, V](s, names[i], s.keyChanged)
	}
	return out
}
