package main

import (
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

func TestKeyCountEmitsEveryPageCountEachTenSecondsOfStreamTime(t *testing.T) {
	topo, err := NewTopology(10*time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, ViewsTopic, record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, CountsTopic, record.String(), record.Int64())
	pipe := func(page string, at int64) {
		t.Helper()
		if err := in.Pipe(page, "u", at); err != nil {
			t.Fatal(err)
		}
	}
	pipe("/a", 1_000)  // first record: the punctuator fires at once (grid point 0)
	pipe("/a", 4_000)  //
	pipe("/b", 9_999)  // not yet 10 s
	pipe("/b", 10_000) // grid point 10 s: emits /a=2, /b=2
	pipe("/a", 3_000)  // late: counted, stream time stays 10 s
	pipe("/c", 35_000) // jump of 2.5 intervals: emits once, at 35 s
	got, err := out.ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		page string
		n    int64
		ts   int64
	}{{"/a", 1, 1_000}, {"/a", 2, 10_000}, {"/b", 2, 10_000}, {"/a", 3, 35_000}, {"/b", 2, 35_000}, {"/c", 1, 35_000}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i, w := range want {
		if got[i].Key() != w.page || got[i].Value() != w.n || got[i].Timestamp() != w.ts {
			t.Errorf("output %d = %v, want %s=%d at %d", i, got[i], w.page, w.n, w.ts)
		}
	}
	// A view without a page is dropped with a warning, not counted as "".
	if err := in.PipeRecord(mustRecord(t, "", "nobody", 36_000).WithNullKey()); err != nil {
		t.Fatal(err)
	}
	counts, err := testdriver.KeyValueStore[string, int64](d, CountsStore)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := counts.ApproximateNumEntries(); err != nil || n != 3 {
		t.Errorf("store holds %d pages (%v), want 3", n, err)
	}
}

func mustRecord(t *testing.T, k, v string, ts int64) record.Record[string, string] {
	r, err := record.New(k, v, ts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGeneratedViewsAreReproducible(t *testing.T) {
	a, b := GenerateViews(50, 7, 0), GenerateViews(50, 7, 0)
	late := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("view %d differs: %v vs %v", i, a[i], b[i])
		}
		if i > 0 && a[i].At < a[i-1].At {
			late++
		}
	}
	if late == 0 {
		t.Error("no out-of-order views generated")
	}
}

func TestRunCompletes(t *testing.T) {
	if err := run(30, 3); err != nil {
		t.Fatal(err)
	}
}
