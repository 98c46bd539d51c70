package testdriver_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/internal/testutil"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

// noPanic runs fn and fails the test if it panics.
var noPanic = testutil.NoPanic

// inToOut is in -> out, strings.
func inToOut() *processor.Builder {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "in")
	return b
}

func TestZeroDriverBehavesAsAClosedDriver(t *testing.T) {
	var d testdriver.Driver
	noPanic(t, "zero Driver", func() {
		if got := d.WallClockTime(); !got.Equal(time.UnixMilli(0)) {
			t.Errorf("WallClockTime = %v, want the epoch", got)
		}
		if err := d.AdvanceWallClock(time.Second); !errors.Is(err, testdriver.ErrClosed) {
			t.Errorf("AdvanceWallClock = %v, want ErrClosed", err)
		}
		if err := d.PipeRaw("in", nil, []byte("v"), 1); !errors.Is(err, testdriver.ErrClosed) {
			t.Errorf("PipeRaw = %v, want ErrClosed", err)
		}
		in := testdriver.CreateInputTopic(&d, "in", record.String(), record.String())
		if err := in.Pipe("k", "v", 1); !errors.Is(err, testdriver.ErrClosed) {
			t.Errorf("Pipe = %v, want ErrClosed", err)
		}
		if _, err := d.Stats(0); err == nil {
			t.Error("Stats(0) of a zero Driver succeeded")
		}
		if _, err := testdriver.KeyValueStore[string, string](&d, "s"); err == nil {
			t.Error("KeyValueStore of a zero Driver succeeded")
		}
		out := testdriver.CreateOutputTopic(&d, "out", record.String(), record.String())
		if _, err := out.ReadRecord(); !errors.Is(err, testdriver.ErrNoRecord) {
			t.Errorf("ReadRecord = %v, want ErrNoRecord", err)
		}
		_ = d.ProducedTopics()
		_ = d.SkippedGlobalRecords()
		if err := d.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
}

func TestClosedDriverReturnsErrClosed(t *testing.T) {
	topo, err := inToOut().Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{})
	must(t, err)
	must(t, d.Close())
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	if err := in.Pipe("k", "v", 1); !errors.Is(err, testdriver.ErrClosed) {
		t.Errorf("Pipe after Close = %v, want ErrClosed", err)
	}
	if err := d.AdvanceWallClock(time.Second); !errors.Is(err, testdriver.ErrClosed) {
		t.Errorf("AdvanceWallClock after Close = %v, want ErrClosed", err)
	}
}

func TestTopicsAndLookupsOnANilDriverReturnErrors(t *testing.T) {
	noPanic(t, "nil Driver", func() {
		if _, err := testdriver.KeyValueStore[string, string](nil, "s"); err == nil {
			t.Error("KeyValueStore(nil) succeeded")
		}
		if _, err := testdriver.WindowStore[string, string](nil, "s"); err == nil {
			t.Error("WindowStore(nil) succeeded")
		}
		if _, err := testdriver.SessionStore[string, string](nil, "s"); err == nil {
			t.Error("SessionStore(nil) succeeded")
		}
		if err := testdriver.CreateInputTopic(nil, "in", record.String(), record.String()).Pipe("k", "v", 1); err == nil {
			t.Error("Pipe on a nil driver succeeded")
		}
		var zeroIn testdriver.InputTopic[string, string]
		if err := zeroIn.PipeRecords([]record.Record[string, string]{{}}); err == nil {
			t.Error("PipeRecords on a zero InputTopic succeeded")
		}
		out := testdriver.CreateOutputTopic(nil, "out", record.String(), record.String())
		if !out.IsEmpty() {
			t.Error("output topic of a nil driver is not empty")
		}
		var zeroOut testdriver.OutputTopic[string, string]
		if rs, err := zeroOut.ReadRecords(); len(rs) != 0 || err != nil {
			t.Errorf("ReadRecords of a zero OutputTopic = %v, %v", rs, err)
		}
		if _, err := testdriver.ReadKeyValuesToMap[string, string](nil); err == nil {
			t.Error("ReadKeyValuesToMap(nil) succeeded")
		}
	})
}

func TestTopicsWithNilSerdesReturnErrSerde(t *testing.T) {
	d := newDriver(t, inToOut(), testdriver.Config{})
	noPanic(t, "nil serdes", func() {
		in := testdriver.CreateInputTopic[string, string](d, "in", nil, record.String())
		if err := in.Pipe("k", "v", 1); !errors.Is(err, record.ErrSerde) {
			t.Errorf("Pipe with a nil key serializer = %v, want ErrSerde", err)
		}
		r, _ := record.New("k", "v", 1)
		if err := in.PipeRecord(r.WithNullKey()); !errors.Is(err, record.ErrSerde) {
			t.Errorf("PipeRecord with a nil key serializer = %v, want ErrSerde", err)
		}
		must(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()).Pipe("k", "v", 1))
		out := testdriver.CreateOutputTopic[string, string](d, "out", record.String(), nil)
		if _, err := out.ReadRecord(); !errors.Is(err, record.ErrSerde) {
			t.Errorf("ReadRecord with a nil value deserializer = %v, want ErrSerde", err)
		}
	})
}

// boom panics in every method.
type boom struct{}

func (boom) Serialize([]byte, string) ([]byte, error) { panic("serialize boom") }
func (boom) Deserialize([]byte) (string, error)       { panic("deserialize boom") }

func TestSerdesThatPanicInTestDriverTopicsGiveErrorsWrappingErrPanic(t *testing.T) {
	d := newDriver(t, inToOut(), testdriver.Config{})
	noPanic(t, "panicking serdes", func() {
		in := testdriver.CreateInputTopic[string, string](d, "in", record.String(), boom{})
		if err := in.Pipe("k", "v", 1); !errors.Is(err, handler.ErrPanic) || !strings.Contains(err.Error(), "serialize boom") {
			t.Errorf("Pipe = %v, want an error wrapping ErrPanic", err)
		}
		r, _ := record.New("k", "v", 1)
		if err := in.PipeRecord(r); !errors.Is(err, handler.ErrPanic) {
			t.Errorf("PipeRecord = %v, want an error wrapping ErrPanic", err)
		}
		must(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()).Pipe("k", "v", 1))
		out := testdriver.CreateOutputTopic[string, string](d, "out", boom{}, record.String())
		if _, err := out.ReadRecord(); !errors.Is(err, handler.ErrPanic) || !strings.Contains(err.Error(), "deserialize boom") {
			t.Errorf("ReadRecord = %v, want an error wrapping ErrPanic", err)
		}
	})
}

func TestBatchOfANilFunctionIsAnError(t *testing.T) {
	d := newDriver(t, inToOut(), testdriver.Config{})
	noPanic(t, "Batch", func() {
		if err := d.Batch(nil); err == nil {
			t.Error("Batch(nil) succeeded")
		}
	})
}

func TestAPanicInsideBatchIsAnErrorAndTheDriverStaysUsable(t *testing.T) {
	d := newDriver(t, inToOut(), testdriver.Config{})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	var err error
	noPanic(t, "Batch", func() {
		err = d.Batch(func() error {
			must(t, in.Pipe("k", "1", 1))
			panic("inside batch")
		})
	})
	if !errors.Is(err, handler.ErrPanic) {
		t.Errorf("Batch = %v, want an error wrapping ErrPanic", err)
	}
	// Not stuck in batching mode: this pipe is processed at once.
	must(t, d.Batch(func() error { return in.Pipe("k", "2", 2) }))
	got, err := testdriver.CreateOutputTopic(d, "out", record.String(), record.String()).ReadValues()
	must(t, err)
	if strings.Join(got, ",") != "1,2" {
		t.Errorf("outputs = %v, want [1 2]", got)
	}
}

// A global-topic record whose deserializer panics is a record that does not
// deserialize: skipped and counted, as global stores skip those.
func TestAGlobalStoreDeserializerThatPanicsSkipsAndCountsTheRecord(t *testing.T) {
	b := inToOut()
	processor.AddGlobalStore[string, string](b, store.NewKeyValueBuilder[string, string](store.InMemoryKeyValue("g"), record.String(), record.String()),
		"g-topic", record.String(), boom{})
	d := newDriver(t, b, testdriver.Config{})
	noPanic(t, "PipeRaw", func() {
		if err := d.PipeRaw("g-topic", []byte("k"), []byte("v"), 1); err != nil {
			t.Errorf("PipeRaw to the global topic = %v, want the record skipped", err)
		}
	})
	if n := d.SkippedGlobalRecords()[processor.GlobalSkipDeserialization]; n != 1 {
		t.Errorf("skipped %v, want one %s", d.SkippedGlobalRecords(), processor.GlobalSkipDeserialization)
	}
}
