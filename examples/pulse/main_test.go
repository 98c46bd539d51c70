package main

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

func TestPulsePipelineRaisesExactlyTheExpectedAlerts(t *testing.T) {
	for _, backend := range []struct {
		name string
		w    window.WindowBackend
		kv   window.KeyValueBackend
	}{{"memory", store.InMemoryWindow, store.InMemoryKeyValue}, {"rocksdb", rocksdb.Window, rocksdb.KeyValue}} {
		t.Run(backend.name, func(t *testing.T) {
			topo, err := NewTopology(backend.w, backend.kv)
			if err != nil {
				t.Fatal(err)
			}
			d, err := testdriver.New(topo, testdriver.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			for _, e := range Generate(7) {
				if err := d.PipeRaw(e.Topic, []byte(e.Patient), e.Value, 0); err != nil {
					t.Fatal(err)
				}
			}
			rs, err := testdriver.CreateOutputTopic(d, AlertTopic, record.String(), record.JSON[Alert]()).ReadRecords()
			if err != nil {
				t.Fatal(err)
			}
			var got []Alert
			for _, r := range rs {
				got = append(got, r.Value())
			}
			if !reflect.DeepEqual(got, ExpectedAlerts) {
				gj, _ := json.MarshalIndent(got, "", " ")
				t.Errorf("alerts:\n%s\nwant %v", gj, ExpectedAlerts)
			}
			st, _ := d.Stats(0)
			if st.SkippedInvalidTimestamp.Load() != 2 {
				t.Errorf("skipped %d unparsable times, want 2", st.SkippedInvalidTimestamp.Load())
			}
			if st.DroppedBy(window.DropLate) != 3 {
				t.Errorf("dropped %d late beats, want 3", st.DroppedBy(window.DropLate))
			}
		})
	}
}

func TestRunOnEmbeddedBrokerPrintsTheAlerts(t *testing.T) {
	if err := run("", 7, false); err != nil {
		t.Fatal(err)
	}
}
