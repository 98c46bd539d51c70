package store

// ValuesOnly returns a read-only view of a timestamped key-value store
// that hides the timestamps, as Kafka Streams' key-value queries of a
// timestamped store do: Get and the iterators yield the plain values. It
// costs what the underlying reads cost; the timestamp is decoded and
// dropped.
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

// WindowValuesOnly is ValuesOnly for a timestamped window store (the
// DSL's windowed aggregations): fetches yield the plain values.
func WindowValuesOnly[K, V any](s ReadOnlyWindowStore[K, ValueAndTimestamp[V]]) ReadOnlyWindowStore[K, V] {
	return windowValuesOnly[K, V]{s: s}
}

type windowValuesOnly[K, V any] struct {
	s ReadOnlyWindowStore[K, ValueAndTimestamp[V]]
}

func (v windowValuesOnly[K, V]) Fetch(key K, windowStart int64) (V, bool, error) {
	vt, ok, err := v.s.Fetch(key, windowStart)
	return vt.Value, ok, err
}

func (v windowValuesOnly[K, V]) FetchRange(key K, timeFrom, timeTo int64) (Iterator[int64, V], error) {
	return valuesIter(v.s.FetchRange(key, timeFrom, timeTo))
}

func (v windowValuesOnly[K, V]) BackwardFetchRange(key K, timeFrom, timeTo int64) (Iterator[int64, V], error) {
	return valuesIter(v.s.BackwardFetchRange(key, timeFrom, timeTo))
}

func (v windowValuesOnly[K, V]) FetchKeyRange(keyFrom, keyTo K, timeFrom, timeTo int64) (Iterator[Windowed[K], V], error) {
	return valuesIter(v.s.FetchKeyRange(keyFrom, keyTo, timeFrom, timeTo))
}

func (v windowValuesOnly[K, V]) BackwardFetchKeyRange(keyFrom, keyTo K, timeFrom, timeTo int64) (Iterator[Windowed[K], V], error) {
	return valuesIter(v.s.BackwardFetchKeyRange(keyFrom, keyTo, timeFrom, timeTo))
}

func (v windowValuesOnly[K, V]) FetchAll(timeFrom, timeTo int64) (Iterator[Windowed[K], V], error) {
	return valuesIter(v.s.FetchAll(timeFrom, timeTo))
}

func (v windowValuesOnly[K, V]) BackwardFetchAll(timeFrom, timeTo int64) (Iterator[Windowed[K], V], error) {
	return valuesIter(v.s.BackwardFetchAll(timeFrom, timeTo))
}

func (v windowValuesOnly[K, V]) All() (Iterator[Windowed[K], V], error) { return valuesIter(v.s.All()) }

func (v windowValuesOnly[K, V]) BackwardAll() (Iterator[Windowed[K], V], error) {
	return valuesIter(v.s.BackwardAll())
}
