package streams

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/store"
)

// Store kinds, as the store package's builders name them (Kind).
const (
	kindKeyValue = "key-value"
	kindWindow   = "window"
	kindSession  = "session"
)

// storeShape is what the topology says about a store: its kind, whether
// its values carry timestamps, its types, and where it lives. The query
// functions check a request against it before looking at any task, so a
// wrong kind or type is reported the same on every instance, in every
// state.
type storeShape struct {
	kind        string // kindKeyValue, kindWindow, kindSession, or "" if the builder does not say
	global      bool
	timestamped bool         // values are store.ValueAndTimestamp
	key, value  reflect.Type // value without its timestamp
	raw         reflect.Type // the value type as stored (store.ValueAndTimestamp[V] when timestamped)
	sub         int          // the sub-topology whose tasks hold it (not for global stores)
}

// request is what a query function asks for.
type request struct {
	fn          string // the function, for messages
	kind        string
	timestamped bool // only a timestamped store will do
	key, value  reflect.Type
}

func newRequest[K, V any](fn, kind string, timestamped bool) request {
	return request{fn: fn, kind: kind, timestamped: timestamped, key: reflect.TypeFor[K](), value: reflect.TypeFor[V]()}
}

// shapeOf finds name among the topology's stores; for an unknown name,
// why says so and lists the names there are.
func (a *App) shapeOf(name string) (shape storeShape, why string, ok bool) {
	for _, g := range a.topo.GlobalStores() {
		if g.Name == name {
			s := shapeFrom(g.Builder)
			s.global = true
			return s, "", true
		}
	}
	for _, st := range a.topo.Subtopologies() {
		if slices.Contains(st.Stores, name) {
			sb, _ := a.topo.StoreBuilder(name)
			s := shapeFrom(sb)
			s.sub = st.ID
			return s, "", true
		}
	}
	if _, ok := a.topo.StoreBuilder(name); ok {
		return storeShape{}, fmt.Sprintf("store %q is registered but no processor uses it, so no task holds it", name), false
	}
	return storeShape{}, fmt.Sprintf("the topology has no store %q; %s", name, a.storeList()), false
}

// storeList names the topology's stores with their kinds, for messages.
func (a *App) storeList() string {
	var names []string
	for _, st := range a.topo.Subtopologies() {
		for _, n := range st.Stores {
			sb, _ := a.topo.StoreBuilder(n)
			names = append(names, fmt.Sprintf("%q (%s)", n, shapeFrom(sb).describe()))
		}
	}
	for _, g := range a.topo.GlobalStores() {
		s := shapeFrom(g.Builder)
		s.global = true
		names = append(names, fmt.Sprintf("%q (%s)", g.Name, s.describe()))
	}
	if len(names) == 0 {
		return "it has no stores"
	}
	slices.Sort(names)
	return "its stores are " + strings.Join(names, ", ")
}

// shapeFrom reads a builder's kind and types.
func shapeFrom(sb store.Builder) storeShape {
	var s storeShape
	if sb == nil {
		return s
	}
	if k, ok := sb.(interface{ Kind() string }); ok {
		s.kind = k.Kind()
	}
	s.key, s.raw = sb.Types()
	s.value = s.raw
	if inner, ok := timestampedValue(s.raw); ok {
		s.timestamped, s.value = true, inner
	}
	return s
}

// vatPkg is the package of store.ValueAndTimestamp.
var vatPkg = reflect.TypeFor[store.ValueAndTimestamp[int]]().PkgPath()

// timestampedValue returns V if t is store.ValueAndTimestamp[V].
func timestampedValue(t reflect.Type) (reflect.Type, bool) {
	if t == nil || t.Kind() != reflect.Struct || t.PkgPath() != vatPkg || !strings.HasPrefix(t.Name(), "ValueAndTimestamp[") ||
		t.NumField() != 2 || t.Field(0).Name != "Value" {
		return nil, false
	}
	return t.Field(0).Type, true
}

// describe names the store's kind in words: "timestamped key-value store".
func (s storeShape) describe() string {
	var b strings.Builder
	if s.global {
		b.WriteString("global ")
	}
	if s.timestamped {
		b.WriteString("timestamped ")
	}
	if s.kind == "" {
		b.WriteString("custom")
	} else {
		b.WriteString(s.kind)
	}
	b.WriteString(" store")
	return b.String()
}

// queriedWith names the functions that query a store of this shape.
func (s storeShape) queriedWith() string {
	switch s.kind {
	case kindKeyValue:
		if s.timestamped {
			return "TimestampedKeyValueStore (or KeyValueStore for the values alone)"
		}
		return "KeyValueStore"
	case kindWindow:
		if s.timestamped {
			return "TimestampedWindowStore (or WindowStore for the values alone)"
		}
		return "WindowStore"
	case kindSession:
		return "SessionStore"
	}
	return "the function for its kind"
}

// check compares a request with the store: its kind, its timestamps and
// its types. A request for plain values of a timestamped store is met
// (with the values alone), and so is one whose value type is the stored
// store.ValueAndTimestamp itself.
func (s storeShape) check(name string, req request) error {
	if s.kind != "" && s.kind != req.kind {
		return queryErr(ErrStoreType, "store %q is a %s; query it with %s, not %s", name, s.describe(), s.queriedWith(), req.fn)
	}
	if req.timestamped && !s.timestamped {
		return queryErr(ErrStoreType, "store %q is a %s, whose values carry no timestamps; query it with %s, not %s",
			name, s.describe(), s.queriedWith(), req.fn)
	}
	if s.key == nil || s.value == nil {
		return nil // the builder does not say; the store itself is checked
	}
	if req.key == s.key && (req.value == s.value || (!req.timestamped && req.value == s.raw)) {
		return nil
	}
	ts := ""
	if s.timestamped {
		ts = " (with timestamps)"
	}
	return queryErr(ErrStoreType, "store %q holds %s keys and %s values%s, but was asked for %s keys and %s values (%s[%s, %s])",
		name, typeName(s.key), typeName(s.value), ts, typeName(req.key), typeName(req.value),
		req.fn, typeName(req.key), typeName(req.value))
}

// notImplemented is the error for a store whose builder (not one of the
// store package's) promised what the store does not implement.
func notImplemented(name string, req request) error {
	return queryErr(ErrStoreType, "store %q does not implement the %s interface over %s keys and %s values that %s reads "+
		"(its builder is not one of the store package's, and its stores are not what it says)",
		name, req.kind, typeName(req.key), typeName(req.value), req.fn)
}

// typeName names a type as Go source does ([]byte, not []uint8).
func typeName(t reflect.Type) string {
	if t == nil {
		return "unknown"
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && t.Elem().PkgPath() == "" {
		return "[]byte"
	}
	return t.String()
}

// idList joins task ids for messages.
func idList(ids []processor.TaskID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, ", ")
}
