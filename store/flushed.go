package store

// FlushedView returns a read-only view of what s holds under its cache: the
// state its flush listeners have already forwarded, without the writes
// still waiting in the cache. Table-to-table operators (joins) read each
// other through it, so a join reads exactly the changes it has seen or
// will see: an unflushed write that the cache later compacts away (an
// insert and a delete within one commit) can then never reach a join
// result that nothing would retract. For a store without a cache, or one
// this package did not build, it is s itself. Making one allocates a typed
// façade once; each read then costs a read of the layer under the cache
// (the cache's hits are not used).
func FlushedView[K, V any](s KeyValueStore[K, V]) ReadOnlyKeyValueStore[K, V] {
	t, ok := s.(*typedKV[K, V])
	if !ok || !isCached(t.inner) {
		return ReadOnlyKeyValue(s)
	}
	under, ok := RestoreTarget(s)
	if !ok {
		return ReadOnlyKeyValue(s)
	}
	return ReadOnlyKeyValue(NewKeyValueStore(under, t.ks, t.vs))
}

// isCached reports whether a cache layer sits in b's chain.
func isCached(b KeyValueBytes) bool {
	for b != nil {
		if _, ok := b.(*cachedKV); ok {
			return true
		}
		u, ok := b.(interface{ Unwrap() KeyValueBytes })
		if !ok {
			return false
		}
		b = u.Unwrap()
	}
	return false
}
