package store

import "fmt"

// listenable returns s as the façade T this package builds and the cache at
// the top of its byte layers. Any other store (uncached, or not built by
// this package, so without a cache a listener can be set on) is an error
// wrapping ErrNotCached.
func listenable[T interface{ Inner() KeyValueBytes }](s StateStore) (T, *cachedKV, error) {
	var zero T
	if s == nil {
		return zero, nil, fmt.Errorf("store: flush listener on a nil store: %w", ErrNotCached)
	}
	t, ok := s.(T)
	if !ok {
		return zero, nil, fmt.Errorf("store %q: %w: it is %T, not a store built by the store package", s.Name(), ErrNotCached, s)
	}
	c, ok := t.Inner().(*cachedKV)
	if !ok {
		return zero, nil, fmt.Errorf("store %q: %w; build it WithCaching", s.Name(), ErrNotCached)
	}
	return t, c, nil
}

// decodeOptional deserializes b, or returns nil for nil b.
func decodeOptional[V any](vd decoder[V], c *copies, b []byte) (*V, error) {
	if b == nil {
		return nil, nil
	}
	v, err := vd.decode(b, c)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// listen registers on c a listener that decodes keys with key and values
// with values before calling fn. Flushed values are the cache's own bytes,
// so values copies them when its deserializer may keep them; Flushed keys
// are fresh copies that nothing else holds once the flush wrote them.
func listen[KK, V any](c *cachedKV, name string, sendOld bool, values decoder[V],
	key func([]byte) (KK, error), fn func(KK, *V, *V, int64) error) {
	var cp copies // the listener's: flushes run on the store's goroutine
	c.setFlushListener(func(f Flushed) error {
		k, err := key(f.Key)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: key: %w", name, err)
		}
		nv, err := decodeOptional(values, &cp, f.NewValue)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: value: %w", name, err)
		}
		ov, err := decodeOptional(values, &cp, f.OldValue)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: old value: %w", name, err)
		}
		return fn(k, nv, ov, f.Timestamp)
	}, sendOld)
}

// SetFlushListener makes a cached key-value store call fn for each entry it
// flushes (on commit or eviction), after the entry reached the store: the
// key, the new value (nil for a delete), the value the store held before
// (only with sendOldValues; nil if absent) and the timestamp of the record
// that wrote it. Aggregation processors forward from here, so each key is
// forwarded once per commit.
func SetFlushListener[K, V any](s KeyValueStore[K, V], sendOldValues bool, fn func(key K, newValue, oldValue *V, timestamp int64) error) error {
	t, c, err := listenable[*typedKV[K, V]](s)
	if err != nil {
		return err
	}
	listen(c, s.Name(), sendOldValues, t.vd, t.kd.decodeOwned, fn)
	return nil
}

// SetWindowFlushListener is SetFlushListener for cached window stores.
func SetWindowFlushListener[K, V any](s WindowStore[K, V], sendOldValues bool, fn func(key Windowed[K], newValue, oldValue *V, timestamp int64) error) error {
	w, c, err := listenable[*typedWindow[K, V]](s)
	if err != nil {
		return err
	}
	listen(c, s.Name(), sendOldValues, w.vd, func(b []byte) (Windowed[K], error) {
		kb, start, _, err := parseWindowKey(b)
		if err != nil {
			return Windowed[K]{}, err
		}
		k, err := w.kd.decodeOwned(kb)
		return Windowed[K]{Key: k, Start: start, End: windowEnd(start, w.size)}, err
	}, fn)
	return nil
}

// SetSessionFlushListener is SetFlushListener for cached session stores.
func SetSessionFlushListener[K, V any](s SessionStore[K, V], sendOldValues bool, fn func(session Windowed[K], newValue, oldValue *V, timestamp int64) error) error {
	t, c, err := listenable[*typedSession[K, V]](s)
	if err != nil {
		return err
	}
	listen(c, s.Name(), sendOldValues, t.vd, func(b []byte) (Windowed[K], error) {
		kb, start, end, err := parseSessionKey(b)
		if err != nil {
			return Windowed[K]{}, err
		}
		k, err := t.kd.decodeOwned(kb)
		return Windowed[K]{Key: k, Start: start, End: end}, err
	}, fn)
	return nil
}
