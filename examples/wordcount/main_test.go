package main

import (
	"reflect"
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

func TestWordsSplitsOnAnythingButLettersAndDigits(t *testing.T) {
	got := Words("The mill-wheel, turning: 2 times!")
	want := []string{"the", "mill", "wheel", "turning", "2", "times"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Words = %q, want %q", got, want)
	}
}

func TestWordCountTopologyCountsThroughTheRepartitionTopic(t *testing.T) {
	topo, err := NewTopology()
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, LinesTopic, record.String(), record.String())
	for i, line := range []string{"a b a", "B c"} {
		if err := in.Pipe("", line, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := testdriver.ReadKeyValuesToMap(testdriver.CreateOutputTopic(d, CountTopic, record.String(), record.Int64()))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"a": 2, "b": 2, "c": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

func TestRunOnEmbeddedBrokerCountsEveryWord(t *testing.T) {
	if err := run("", t.TempDir(), false); err != nil {
		t.Fatal(err)
	}
}
