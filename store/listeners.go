package store

import "fmt"

// cachedOf finds the cache at the top of a store's byte layers.
func cachedOf(s StateStore) (*cachedKV, error) {
	var inner KeyValueBytes
	if w, ok := s.(interface{ Inner() KeyValueBytes }); ok {
		inner = w.Inner()
	}
	if c, ok := inner.(*cachedKV); ok {
		return c, nil
	}
	return nil, fmt.Errorf("store %q: %w; build it WithCaching", s.Name(), ErrNotCached)
}

// decodeOptional deserializes b, or returns nil for nil b.
func decodeOptional[V any](vs interface{ Deserialize([]byte) (V, error) }, b []byte) (*V, error) {
	if b == nil {
		return nil, nil
	}
	v, err := vs.Deserialize(b)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// SetFlushListener makes a cached key-value store call fn for each entry it
// flushes (on commit or eviction), after the entry reached the store: the
// key, the new value (nil for a delete), the value the store held before
// (only with sendOldValues; nil if absent) and the timestamp of the record
// that wrote it. Aggregation processors forward from here, so each key is
// forwarded once per commit.
func SetFlushListener[K, V any](s KeyValueStore[K, V], sendOldValues bool, fn func(key K, newValue, oldValue *V, timestamp int64) error) error {
	c, err := cachedOf(s)
	if err != nil {
		return err
	}
	t := s.(*typedKV[K, V])
	c.setFlushListener(func(f Flushed) error {
		k, err := t.ks.Deserialize(f.Key)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: key: %w", s.Name(), err)
		}
		nv, err := decodeOptional[V](t.vs, f.NewValue)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: value: %w", s.Name(), err)
		}
		ov, err := decodeOptional[V](t.vs, f.OldValue)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: old value: %w", s.Name(), err)
		}
		return fn(k, nv, ov, f.Timestamp)
	}, sendOldValues)
	return nil
}

// SetWindowFlushListener is SetFlushListener for cached window stores.
func SetWindowFlushListener[K, V any](s WindowStore[K, V], sendOldValues bool, fn func(key Windowed[K], newValue, oldValue *V, timestamp int64) error) error {
	c, err := cachedOf(s)
	if err != nil {
		return err
	}
	w := s.(*typedWindow[K, V])
	c.setFlushListener(func(f Flushed) error {
		kb, start, _, err := parseWindowKey(f.Key)
		if err != nil {
			return err
		}
		k, err := w.ks.Deserialize(kb)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: key: %w", s.Name(), err)
		}
		nv, err := decodeOptional[V](w.vs, f.NewValue)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: value: %w", s.Name(), err)
		}
		ov, err := decodeOptional[V](w.vs, f.OldValue)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: old value: %w", s.Name(), err)
		}
		return fn(Windowed[K]{Key: k, Start: start, End: start + w.size}, nv, ov, f.Timestamp)
	}, sendOldValues)
	return nil
}

// SetSessionFlushListener is SetFlushListener for cached session stores.
func SetSessionFlushListener[K, V any](s SessionStore[K, V], sendOldValues bool, fn func(session Windowed[K], newValue, oldValue *V, timestamp int64) error) error {
	c, err := cachedOf(s)
	if err != nil {
		return err
	}
	t := s.(*typedSession[K, V])
	c.setFlushListener(func(f Flushed) error {
		kb, start, end, err := parseSessionKey(f.Key)
		if err != nil {
			return err
		}
		k, err := t.ks.Deserialize(kb)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: key: %w", s.Name(), err)
		}
		nv, err := decodeOptional[V](t.vs, f.NewValue)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: value: %w", s.Name(), err)
		}
		ov, err := decodeOptional[V](t.vs, f.OldValue)
		if err != nil {
			return fmt.Errorf("store %q: flush listener: old value: %w", s.Name(), err)
		}
		return fn(Windowed[K]{Key: k, Start: start, End: end}, nv, ov, f.Timestamp)
	}, sendOldValues)
	return nil
}
