package store

// ValuesOnly returns a read-only view of a timestamped key-value store
// that hides the timestamps, as Kafka Streams' key-value queries of a
// timestamped store do: Get and the iterators yield the plain values.
func ValuesOnly[K, V any](s ReadOnlyKeyValueStore[K, ValueAndTimestamp[V]]) ReadOnlyKeyValueStore[K, V] {
	return valuesOnly[K, V]{s: s}
}

type valuesOnly[K, V any] struct {
	s ReadOnlyKeyValueStore[K, ValueAndTimestamp[V]]
}

func (v valuesOnly[K, V]) Get(key K) (V, bool, error) {
	vt, ok, err := v.s.Get(key)
	return vt.Value, ok, err
}

func (v valuesOnly[K, V]) Range(from, to K) (Iterator[K, V], error) {
	return valuesIter(v.s.Range(from, to))
}
func (v valuesOnly[K, V]) ReverseRange(from, to K) (Iterator[K, V], error) {
	return valuesIter(v.s.ReverseRange(from, to))
}
func (v valuesOnly[K, V]) All() (Iterator[K, V], error)        { return valuesIter(v.s.All()) }
func (v valuesOnly[K, V]) ReverseAll() (Iterator[K, V], error) { return valuesIter(v.s.ReverseAll()) }
func (v valuesOnly[K, V]) PrefixScan(prefix []byte) (Iterator[K, V], error) {
	return valuesIter(v.s.PrefixScan(prefix))
}
func (v valuesOnly[K, V]) ApproximateNumEntries() (int64, error) { return v.s.ApproximateNumEntries() }

func valuesIter[K, V any](it Iterator[K, ValueAndTimestamp[V]], err error) (Iterator[K, V], error) {
	if err != nil {
		return nil, err
	}
	return valueIterator[K, V]{it}, nil
}

type valueIterator[K, V any] struct {
	Iterator[K, ValueAndTimestamp[V]]
}

func (it valueIterator[K, V]) Value() V { return it.Iterator.Value().Value }
