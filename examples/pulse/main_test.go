package main

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

func TestPulsePipelineRaisesExactlyTheExpectedAlerts(t *testing.T) {
	for _, backend := range []struct {
		name     string
		inMemory bool
	}{{"memory", true}, {"rocksdb", false}} {
		t.Run(backend.name, func(t *testing.T) {
			topo, err := NewTopology(backend.inMemory)
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
			// The join repartitions the pulse side: two sub-topologies.
			var skipped, late int64
			for sub := 0; sub < 2; sub++ {
				st, err := d.Stats(sub)
				if err != nil {
					t.Fatal(err)
				}
				skipped += st.SkippedInvalidTimestamp.Load()
				late += st.DroppedBy(window.DropLate)
			}
			if skipped != 2 {
				t.Errorf("skipped %d unparsable times, want 2", skipped)
			}
			if late != 3 {
				t.Errorf("dropped %d late beats, want 3", late)
			}
		})
	}
}

func TestRunOnEmbeddedBrokerPrintsTheAlerts(t *testing.T) {
	if err := run("", 7, false); err != nil {
		t.Fatal(err)
	}
}
