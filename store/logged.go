package store

import "fmt"

// changelogAdditionalRetention is added to a window or session store's
// retention for its changelog's retention.ms, as Kafka Streams'
// windowstore.changelog.additional.retention.ms (1 day) does.
const changelogAdditionalRetention = 24 * 60 * 60 * 1000

// loggedKV sends every write to the store's changelog after applying it.
// When the InitContext has no ChangelogWriter it only passes writes
// through.
type loggedKV struct {
	inner KeyValueBytes
	log   ChangelogWriter
	ts    func() int64
	name  string
}

func newLoggedKV(inner KeyValueBytes) *loggedKV { return &loggedKV{inner: inner, name: inner.Name()} }

// Unwrap returns the store under the changelog layer.
func (l *loggedKV) Unwrap() KeyValueBytes { return l.inner }

func (l *loggedKV) Name() string     { return l.name }
func (l *loggedKV) Persistent() bool { return l.inner.Persistent() }
func (l *loggedKV) Flush() error     { return l.inner.Flush() }
func (l *loggedKV) Close() error     { return l.inner.Close() }

// FlushToDisk forwards to the store under the layer.
func (l *loggedKV) FlushToDisk() error { return FlushToDisk(l.inner) }

func (l *loggedKV) Init(ctx InitContext) error {
	l.log, l.ts = ctx.Changelog, ctx.RecordTimestamp
	return l.inner.Init(ctx)
}

func (l *loggedKV) now() int64 {
	if l.ts == nil {
		return 0
	}
	return l.ts()
}

func (l *loggedKV) record(key, value []byte) error { return l.recordAt(key, value, l.now()) }

func (l *loggedKV) recordAt(key, value []byte, ts int64) error {
	if l.log == nil {
		return nil
	}
	if err := l.log.Log(l.name, key, value, ts); err != nil {
		return fmt.Errorf("store %q: changelog: %w", l.name, err)
	}
	return nil
}

func (l *loggedKV) Get(key []byte) ([]byte, bool, error) { return l.inner.Get(key) }

func (l *loggedKV) getShared(key []byte) ([]byte, bool, bool, error) { return getShared(l.inner, key) }

func (l *loggedKV) Put(key, value []byte) error {
	if err := l.inner.Put(key, value); err != nil {
		return err
	}
	return l.record(key, value)
}

func (l *loggedKV) Delete(key []byte) ([]byte, bool, error) {
	old, ok, err := l.inner.Delete(key)
	if err != nil {
		return nil, false, err
	}
	return old, ok, l.record(key, nil)
}

// Write logs every entry at the timestamp of the record being processed,
// as Put does: what PutAll writes, it writes now. (Restoration writes
// under this layer, and a cache flushes through writeStamped.)
func (l *loggedKV) Write(batch []Entry) error { return l.writeStamped(batch, nil) }

// writeStamped is Write with each entry's own timestamp, ts[i] for
// batch[i] (nil ts: the current record's, for all).
func (l *loggedKV) writeStamped(batch []Entry, ts []int64) error {
	if err := l.inner.Write(batch); err != nil {
		return err
	}
	now := l.now()
	for i, e := range batch {
		at := now
		if ts != nil {
			at = ts[i]
		}
		if err := l.recordAt(e.Key, e.Value, at); err != nil {
			return err
		}
	}
	return nil
}

// stampedWriter is implemented by layers that log when each write happened
// (the changelog layer). A cache flushes through it, so every changelog
// record carries the timestamp of the write that last dirtied its entry,
// as Kafka Streams' caching stores log, not the time of the flush.
type stampedWriter interface {
	// writeStamped is Write with ts[i] the timestamp of batch[i].
	writeStamped(batch []Entry, ts []int64) error
}

func (l *loggedKV) Range(from, to []byte, reverse bool) (Iterator[[]byte, []byte], error) {
	return l.inner.Range(from, to, reverse)
}

func (l *loggedKV) PrefixScan(prefix []byte) (Iterator[[]byte, []byte], error) {
	return l.inner.PrefixScan(prefix)
}

func (l *loggedKV) ApproximateNumEntries() (int64, error) { return l.inner.ApproximateNumEntries() }

// logging is the changelog part of a builder.
type logging struct {
	disabled bool
}

// LoggingEnabled reports whether stores built have a changelog.
func (l *logging) LoggingEnabled() bool { return !l.disabled }

// wrap puts the changelog layer over inner unless logging is disabled.
func (l *logging) wrap(inner KeyValueBytes) KeyValueBytes {
	if l.disabled {
		return inner
	}
	return newLoggedKV(inner)
}
