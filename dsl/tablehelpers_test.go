package dsl_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

// tblChangeText writes a table's changes as "old->new" text, so tests see
// retractions (the old side) as well as updates.
func tblChangeText[V any]() record.Serde[dsl.Change[V]] {
	return record.SerdeFuncs(func(c dsl.Change[V]) ([]byte, error) { return []byte(c.String()), nil }, nil)
}

// tblChangesTo writes t's changes to topic as "old->new" strings.
func tblChangesTo[K, V any](b *dsl.Builder, t dsl.Table[K, V], topic string, keys record.Serde[K]) {
	s := dsl.FromNode(b, t.NodeName(), keys, tblChangeText[V](), false)
	dsl.To(s, topic)
}

// tblDriver builds b and starts a driver on it, closed with the test.
func tblDriver(t *testing.T, b *dsl.Builder) *testdriver.Driver {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{ApplicationID: "tables"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// tblRead reads every unread record of o as "key=value@ts" ("<null>" for
// a null key or value).
func tblRead[K, V any](t *testing.T, o *testdriver.OutputTopic[K, V]) []string {
	t.Helper()
	rs, err := o.ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, r := range rs {
		k, v := any(r.Key()), any(r.Value())
		if r.KeyIsNull() {
			k = "<null>"
		}
		if r.ValueIsNull() {
			v = "<null>"
		}
		out = append(out, fmt.Sprintf("%v=%v@%d", k, v, r.Timestamp()))
	}
	return out
}

// tblDropped sums the records dropped for reason over every task.
func tblDropped(t *testing.T, d *testdriver.Driver, reason string) int64 {
	t.Helper()
	var n int64
	for i := 0; ; i++ {
		st, err := d.Stats(i)
		if err != nil {
			return n
		}
		n += st.DroppedBy(reason)
	}
}

func tblEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// tblPipe pipes key=value at ts; a nil value pipes a tombstone, a nil key
// a null key.
func tblPipe[K, V any](t *testing.T, in *testdriver.InputTopic[K, V], key *K, value *V, ts int64) {
	t.Helper()
	var k K
	var v V
	if key != nil {
		k = *key
	}
	if value != nil {
		v = *value
	}
	r, err := record.New(k, v, ts)
	if err != nil {
		t.Fatal(err)
	}
	if key == nil {
		r = r.WithNullKey()
	}
	if value == nil {
		r = r.WithNullValue()
	}
	if err := in.PipeRecord(r); err != nil {
		t.Fatal(err)
	}
}

func tblPtr[T any](v T) *T { return &v }

// tblBuildErr builds b and returns its error, failing the test if there is
// none or it does not wrap want.
func tblBuildErr(t *testing.T, b *dsl.Builder, want error) error {
	t.Helper()
	_, err := b.Build()
	if err == nil {
		t.Fatalf("Build succeeded, want %v", want)
	}
	var be *processor.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build error %T, want *processor.BuildError", err)
	}
	if !errors.Is(err, want) {
		t.Fatalf("Build error %v, want %v", err, want)
	}
	return err
}

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }
