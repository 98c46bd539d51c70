package store

import (
	"fmt"
	"sync/atomic"
)

// changelogAdditionalRetention is added to a window or session store's
// retention for its changelog's retention.ms, as Kafka Streams'
// windowstore.changelog.additional.retention.ms (1 day) does.
const changelogAdditionalRetention = 24 * 60 * 60 * 1000

// loggedKV sends every write to the store's changelog, then applies it.
// When the InitContext has no ChangelogWriter it only passes writes
// through.
//
// The changelog goes first so that a write the ChangelogWriter refuses
// (an error wrapping ErrChangelogWrite) leaves the local store as it was:
// the local store then never holds a write its changelog lacks, which
// nothing would repair (the write would be lost when the task moves, and a
// restore would not undo it). The other way round is repairable: if the
// local write fails after the log took it, restoring from the changelog
// (or, under exactly-once, aborting the transaction) makes the two agree
// again. Undoing the local write instead would cost a read before every
// write. A batch whose log write fails part way has logged its first
// entries and applied none locally.
type loggedKV struct {
	inner KeyValueBytes
	log   ChangelogWriter
	ts    func() int64
	name  string
	state atomic.Int32 // stateNew, stateOpen, stateClosed
}

// Lifecycle of a layer that must refuse writes before passing them down.
const (
	stateNew int32 = iota
	stateOpen
	stateClosed
)

func newLoggedKV(inner KeyValueBytes) *loggedKV { return &loggedKV{inner: inner, name: inner.Name()} }

// Unwrap returns the store under the changelog layer.
func (l *loggedKV) Unwrap() KeyValueBytes { return l.inner }

func (l *loggedKV) Name() string     { return l.name }
func (l *loggedKV) Persistent() bool { return l.inner.Persistent() }
func (l *loggedKV) Flush() error     { return l.inner.Flush() }

func (l *loggedKV) Close() error {
	l.state.Store(stateClosed)
	return l.inner.Close()
}

// FlushToDisk forwards to the store under the layer.
func (l *loggedKV) FlushToDisk() error { return FlushToDisk(l.inner) }

func (l *loggedKV) Init(ctx InitContext) error {
	if l.state.Load() == stateClosed {
		return fmt.Errorf("store %q: %w", l.name, ErrClosed)
	}
	l.log, l.ts = ctx.Changelog, ctx.RecordTimestamp
	if err := l.inner.Init(ctx); err != nil {
		return err
	}
	l.state.CompareAndSwap(stateNew, stateOpen)
	return nil
}

// check refuses a write before it is logged: a nil key, or a store that is
// not open (the store under would refuse it after the log took it).
func (l *loggedKV) check(key []byte) error {
	state := l.state.Load()
	if err := lifecycleErr(l.name, state == stateOpen, state == stateClosed); err != nil {
		return err
	}
	if key == nil {
		return fmt.Errorf("store %q: %w", l.name, ErrNullKey)
	}
	return nil
}

func (l *loggedKV) now() int64 {
	if l.ts == nil {
		return 0
	}
	return l.ts()
}

// record logs one write; a refusal wraps ErrChangelogWrite and the
// writer's error.
func (l *loggedKV) record(key, value []byte, ts int64) error {
	if l.log == nil {
		return nil
	}
	if err := l.log.Log(l.name, key, value, ts); err != nil {
		return fmt.Errorf("store %q: %w: %w", l.name, ErrChangelogWrite, err)
	}
	return nil
}

func (l *loggedKV) Get(key []byte) ([]byte, bool, error) { return l.inner.Get(key) }

func (l *loggedKV) getShared(key []byte) ([]byte, bool, bool, error) { return getShared(l.inner, key) }

func (l *loggedKV) Put(key, value []byte) error {
	if err := l.check(key); err != nil {
		return err
	}
	if err := l.record(key, value, l.now()); err != nil {
		return err
	}
	return l.inner.Put(key, value)
}

func (l *loggedKV) Delete(key []byte) ([]byte, bool, error) {
	if err := l.check(key); err != nil {
		return nil, false, err
	}
	if err := l.record(key, nil, l.now()); err != nil {
		return nil, false, err
	}
	return l.inner.Delete(key)
}

// Write logs every entry at the timestamp of the record being processed,
// as Put does: what PutAll writes, it writes now. (Restoration writes
// under this layer, and a cache flushes through writeStamped.)
func (l *loggedKV) Write(batch []Entry) error { return l.writeStamped(batch, nil) }

// writeStamped is Write with each entry's own timestamp, ts[i] for
// batch[i] (nil ts: the current record's, for all). It checks every key
// before it logs any.
func (l *loggedKV) writeStamped(batch []Entry, ts []int64) error {
	for _, e := range batch {
		if err := l.check(e.Key); err != nil {
			return err
		}
	}
	now := l.now()
	for i, e := range batch {
		at := now
		if ts != nil {
			at = ts[i]
		}
		if err := l.record(e.Key, e.Value, at); err != nil {
			return err
		}
	}
	return l.inner.Write(batch)
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
