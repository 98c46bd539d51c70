package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDescribeCommandPrintsTheTopologyAndItsInternalTopics(t *testing.T) {
	tool := adminTool()
	var out, errs bytes.Buffer
	tool.Stdout, tool.Stderr = &out, &errs
	if code := tool.Run(context.Background(), []string{"describe"}); code != 0 {
		t.Fatalf("describe: exit %d, stderr %q", code, errs.String())
	}
	for _, want := range []string{"Sub-topology: 1", "Input topics (rewound by reset): " + LinesTopic,
		"wordcount-example-word-counts-changelog, wordcount-example-word-counts-repartition"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe output lacks %q:\n%s", want, out.String())
		}
	}
	if _, ran := adminCommand([]string{"-brokers", "localhost:9092"}); ran {
		t.Error("the example's own flags were taken for a command")
	}
}
