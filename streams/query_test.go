package streams_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
)

// Stores of allStores, one of each kind.
const (
	kvStore       = "counts"   // key-value, string -> int64
	tsKVStore     = "table"    // timestamped key-value, string -> string
	windowStore   = "windows"  // window, string -> int64
	tsWindowStore = "twindows" // timestamped window, string -> int64
	sessionStore  = "sessions" // session, string -> int64
	globalStore   = "products" // global key-value, string -> string
)

const iqWindow = time.Minute

// writeAll writes every record into every store of allStores: the count
// of its key, its value with its timestamp, its window's and its
// session's count.
type writeAll struct {
	kv   store.KeyValueStore[string, int64]
	tkv  store.TimestampedKeyValueStore[string, string]
	win  store.WindowStore[string, int64]
	twin store.WindowStore[string, store.ValueAndTimestamp[int64]]
	sess store.SessionStore[string, int64]
}

func (w *writeAll) Init(ctx processor.Context[string, string]) (err error) {
	if w.kv, err = processor.KeyValueStore[string, int64](ctx, kvStore); err != nil {
		return err
	}
	if w.tkv, err = processor.KeyValueStore[string, store.ValueAndTimestamp[string]](ctx, tsKVStore); err != nil {
		return err
	}
	if w.win, err = processor.WindowStore[string, int64](ctx, windowStore); err != nil {
		return err
	}
	if w.twin, err = processor.WindowStore[string, store.ValueAndTimestamp[int64]](ctx, tsWindowStore); err != nil {
		return err
	}
	w.sess, err = processor.SessionStore[string, int64](ctx, sessionStore)
	return err
}

func (w *writeAll) Process(r record.Record[string, string]) error {
	n, _, err := w.kv.Get(r.Key())
	if err != nil {
		return err
	}
	n++
	start := r.Timestamp() / iqWindow.Milliseconds() * iqWindow.Milliseconds()
	return errors.Join(w.kv.Put(r.Key(), n),
		w.tkv.Put(r.Key(), store.ValueAndTimestamp[string]{Value: r.Value(), Timestamp: r.Timestamp()}),
		w.win.Put(r.Key(), n, start),
		w.twin.Put(r.Key(), store.ValueAndTimestamp[int64]{Value: n, Timestamp: r.Timestamp()}, start),
		w.sess.Put(store.Windowed[string]{Key: r.Key(), Start: r.Timestamp(), End: r.Timestamp()}, n))
}

func (w *writeAll) Close() error { return nil }

// allStores reads topic "in" into a store of every kind, with a global
// store fed from "products".
func allStores(t testing.TB) *processor.Topology {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "write", func() processor.Processor[string, string, string, string] { return &writeAll{} }, "in").
		WithStores(kvStore, tsKVStore, windowStore, tsWindowStore, sessionStore)
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue(kvStore), record.String(), record.Int64()))
	b.AddStore(store.NewTimestampedKeyValueBuilder(store.InMemoryKeyValue(tsKVStore), record.String(), record.String()))
	b.AddStore(store.NewWindowBuilder(store.InMemoryWindow(windowStore, time.Hour, iqWindow, false), record.String(), record.Int64()))
	b.AddStore(store.NewWindowBuilder(store.InMemoryWindow(tsWindowStore, time.Hour, iqWindow, false), record.String(),
		store.TimestampedSerde(record.Int64())))
	b.AddStore(store.NewSessionBuilder(store.InMemorySession(sessionStore, time.Hour), record.String(), record.Int64()))
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue(globalStore), record.String(), record.String()),
		"products", record.String(), record.String())
	topo, err := b.Build()
	must(t, err)
	return topo
}

// notStarted is an App of allStores that never runs.
func notStarted(t *testing.T, server string) *streams.App {
	t.Helper()
	app, err := streams.New(allStores(t), streams.Config{ApplicationID: "iq-errors", BootstrapServers: "127.0.0.1:1",
		StateDir: t.TempDir(), ApplicationServer: server})
	must(t, err)
	return app
}

// checkErr checks that err wraps sentinel (and ErrStoreNotAvailable, as
// every query error does) and reads text, with no Go type of the store
// package's insides in it.
func checkErr(t *testing.T, what string, err error, sentinel error, text string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want %q", what, text)
		return
	case !errors.Is(err, sentinel) || !errors.Is(err, streams.ErrStoreNotAvailable):
		t.Errorf("%s: %q wraps neither %v nor ErrStoreNotAvailable", what, err, sentinel)
	case err.Error() != text:
		t.Errorf("%s:\n  got  %s\n  want %s", what, err, text)
	}
	if strings.Contains(err.Error(), "*store.") || strings.Contains(err.Error(), "typed") {
		t.Errorf("%s: the error names an internal type: %s", what, err)
	}
}

func TestQueryErrorsSayWhatWasWrongInWords(t *testing.T) {
	app := notStarted(t, "")
	_, err := streams.KeyValueStore[string, int64](app, "nope")
	checkErr(t, "unknown name", err, streams.ErrUnknownStore, `streams: the topology has no store "nope"; its stores are `+
		`"counts" (key-value store), "products" (global key-value store), "sessions" (session store), `+
		`"table" (timestamped key-value store), "twindows" (timestamped window store), "windows" (window store)`)

	_, err = streams.KeyValueStore[string, int64](app, windowStore)
	checkErr(t, "a window store as a key-value store", err, streams.ErrStoreType,
		`streams: store "windows" is a window store; query it with WindowStore, not KeyValueStore`)
	_, err = streams.WindowStore[string, int64](app, kvStore)
	checkErr(t, "a key-value store as a window store", err, streams.ErrStoreType,
		`streams: store "counts" is a key-value store; query it with KeyValueStore, not WindowStore`)
	_, err = streams.SessionStore[string, int64](app, tsWindowStore)
	checkErr(t, "a timestamped window store as a session store", err, streams.ErrStoreType,
		`streams: store "twindows" is a timestamped window store; query it with TimestampedWindowStore (or WindowStore for the values alone), not SessionStore`)
	_, err = streams.WindowStore[string, int64](app, sessionStore)
	checkErr(t, "a session store as a window store", err, streams.ErrStoreType,
		`streams: store "sessions" is a session store; query it with SessionStore, not WindowStore`)
	_, err = streams.WindowStore[string, string](app, globalStore)
	checkErr(t, "a global store as a window store", err, streams.ErrStoreType,
		`streams: store "products" is a global key-value store; query it with KeyValueStore, not WindowStore`)

	_, err = streams.KeyValueStore[[]byte, string](app, kvStore)
	checkErr(t, "other types", err, streams.ErrStoreType,
		`streams: store "counts" holds string keys and int64 values, but was asked for []byte keys and string values (KeyValueStore[[]byte, string])`)
	_, err = streams.KeyValueStore[string, int64](app, tsKVStore)
	checkErr(t, "other types of a timestamped store", err, streams.ErrStoreType,
		`streams: store "table" holds string keys and string values (with timestamps), but was asked for string keys and int64 values (KeyValueStore[string, int64])`)
	_, err = streams.WindowStore[int64, int64](app, windowStore)
	checkErr(t, "other key type of a window store", err, streams.ErrStoreType,
		`streams: store "windows" holds string keys and int64 values, but was asked for int64 keys and int64 values (WindowStore[int64, int64])`)

	_, err = streams.TimestampedKeyValueStore[string, int64](app, kvStore)
	checkErr(t, "timestamps of a plain store", err, streams.ErrStoreType,
		`streams: store "counts" is a key-value store, whose values carry no timestamps; query it with KeyValueStore, not TimestampedKeyValueStore`)
	_, err = streams.TimestampedKeyValueStore[string, string](app, globalStore)
	checkErr(t, "timestamps of a global store", err, streams.ErrStoreType,
		`streams: store "products" is a global key-value store, whose values carry no timestamps; query it with KeyValueStore, not TimestampedKeyValueStore`)
	_, err = streams.TimestampedWindowStore[string, int64](app, windowStore)
	checkErr(t, "timestamps of a plain window store", err, streams.ErrStoreType,
		`streams: store "windows" is a window store, whose values carry no timestamps; query it with WindowStore, not TimestampedWindowStore`)

	// What matches gets as far as the App's state: it has not started.
	for what, query := range map[string]func() error{
		"a timestamped store's values": func() error { _, err := streams.KeyValueStore[string, string](app, tsKVStore); return err },
		"a timestamped store's entries as stored": func() error {
			_, err := streams.KeyValueStore[string, store.ValueAndTimestamp[string]](app, tsKVStore)
			return err
		},
		"a timestamped window store's values": func() error { _, err := streams.WindowStore[string, int64](app, tsWindowStore); return err },
	} {
		err := query()
		name := tsKVStore
		if strings.Contains(what, "window") {
			name = tsWindowStore
		}
		checkErr(t, what, err, streams.ErrAppNotRunning, `streams: cannot query store "`+name+`": the App has not started (call Run first)`)
	}
	_, err = streams.KeyValueStore[string, int64](nil, kvStore)
	checkErr(t, "nil App", err, streams.ErrAppNotRunning, `streams: cannot query store "counts": the App is nil or was not made by New`)

	must(t, app.Close())
	_, err = streams.SessionStore[string, int64](app, sessionStore)
	checkErr(t, "closed App", err, streams.ErrAppNotRunning, `streams: cannot query store "sessions": the App is not running (state NOT_RUNNING)`)
}

func TestApplicationServerMustBeAnEndpointOthersCanReach(t *testing.T) {
	for server, want := range map[string]string{
		"localhost":      `ApplicationServer "localhost" is not host:port`,
		":8080":          `ApplicationServer ":8080" has no host: other instances need an address to reach this one`,
		"0.0.0.0:8080":   `ApplicationServer "0.0.0.0:8080": 0.0.0.0 is a listen-on-every-interface address, which other instances cannot reach`,
		"[::]:8080":      `ApplicationServer "[::]:8080": :: is a listen-on-every-interface address`,
		"host:0":         `ApplicationServer "host:0": port "0" is not a number from 1 to 65535`,
		"host:http":      `ApplicationServer "host:http": port "http" is not a number from 1 to 65535`,
		"a b:80":         `ApplicationServer "a b:80": host "a b" is not a host name or address`,
		"http://h:80/x":  `ApplicationServer "http://h:80/x" is not host:port`,
		"127.0.0.1:8080": "",
		"[::1]:80":       "",
		"query-1:9000":   "",
	} {
		_, err := streams.New(allStores(t), streams.Config{ApplicationID: "iq-config", BootstrapServers: "127.0.0.1:1",
			StateDir: t.TempDir(), ApplicationServer: server})
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", server, err)
		case want != "" && (err == nil || !errors.Is(err, streams.ErrConfig) || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want one saying %q", server, err, want)
		}
	}
	long := strings.Repeat("a", 240)
	_, err := streams.New(allStores(t), streams.Config{ApplicationID: long, BootstrapServers: "127.0.0.1:1",
		StateDir: t.TempDir(), ApplicationServer: "h:1"})
	if err == nil || !strings.Contains(err.Error(), "is too long for the instance-metadata topic") {
		t.Errorf("an application id too long for the metadata topic: %v", err)
	}
}

func TestHostInfoPrintsHostAndPort(t *testing.T) {
	for h, want := range map[streams.HostInfo]string{
		{Host: "10.0.0.1", Port: 8080}: "10.0.0.1:8080",
		{Host: "::1", Port: 80}:        "[::1]:80",
		{}:                             "",
	} {
		if got := h.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", h, got, want)
		}
	}
	if got := notStarted(t, "[::1]:8080").HostInfo(); got != (streams.HostInfo{Host: "::1", Port: 8080}) {
		t.Errorf("HostInfo() = %#v", got)
	}
	if got := notStarted(t, "").HostInfo(); got != (streams.HostInfo{}) {
		t.Errorf("HostInfo() without an ApplicationServer = %#v, want the zero HostInfo", got)
	}
}
