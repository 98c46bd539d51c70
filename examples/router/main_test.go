package main

import (
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

func TestRouterSendsEachOrderToItsCategoryAndMalformedOnesToDeadLetters(t *testing.T) {
	topo, err := NewTopology()
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, OrdersTopic, record.Bytes(), record.Bytes())
	for i, o := range orders {
		if err := in.Pipe([]byte(o.key), []byte(o.value), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(topic string) []string {
		rs, err := testdriver.CreateOutputTopic(d, topic, record.Bytes(), record.Bytes()).ReadRecords()
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range rs {
			keys = append(keys, string(r.Key()))
		}
		return keys
	}
	checks := map[string]string{TopicFor("books"): "o-1 o-3", TopicFor("music"): "o-2", TopicFor("garden"): "o-6",
		DeadLetterTopic: "o-4 o-5 o-7"}
	for topic, want := range checks {
		got := read(topic)
		if joined := join(got); joined != want {
			t.Errorf("%s got %q, want %q", topic, joined, want)
		}
	}
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out
}

func TestDeadLetterCarriesTheReasonAndTheOriginalBytes(t *testing.T) {
	topo, err := NewTopology()
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, OrdersTopic, record.Bytes(), record.Bytes())
	if err := in.Pipe([]byte("x"), []byte("{broken"), 1); err != nil {
		t.Fatal(err)
	}
	r, err := testdriver.CreateOutputTopic(d, DeadLetterTopic, record.Bytes(), record.Bytes()).ReadRecord()
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Value()) != "{broken" {
		t.Errorf("value changed: %q", r.Value())
	}
	if why, ok := r.Headers().Last("dead-letter-reason"); !ok || string(why) != "malformed JSON" {
		t.Errorf("reason header %q %v", why, ok)
	}
}

func TestRunOnEmbeddedBrokerRoutesEveryOrder(t *testing.T) {
	if err := run("", false); err != nil {
		t.Fatal(err)
	}
}
