package streams_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/millrace/millrace/streams"
)

// On Millrace's own producer client, the changelog offsets a clean stop
// checkpoints come from the client's per-partition delivered offsets in
// C: the checkpoint holds the changelog's end, and a restart counts on
// from the state it restores.
func TestOwnProducerClientCheckpointsTheChangelogsEnd(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	dir := t.TempDir()
	cfg := streams.Config{ApplicationID: "own-checkpoint", BootstrapServers: c.Bootstrap(), StateDir: dir,
		CommitInterval: 50 * time.Millisecond}
	streams.OwnProducer(&cfg)
	produce(t, c.Bootstrap(), "in", rounds(5, 10))
	first := start(t, wipingCount(t), cfg)
	consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 50 }, first)
	must(t, first.stop(t)) // clean: commit and checkpoint

	changelog := "own-checkpoint-counts-changelog"
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()))
	must(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, changelog)
	must(t, err)
	end, ok := ends.Lookup(changelog, 0)
	if !ok || end.Err != nil || end.Offset == 0 {
		t.Fatalf("end offset of %s-0: %+v, %v", changelog, end, ok)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "own-checkpoint", "0_0", ".checkpoint"))
	must(t, err)
	if want := fmt.Sprintf("%s 0 %d", changelog, end.Offset); !strings.Contains(string(raw), want+"\n") {
		t.Fatalf("checkpoint %q, want the line %q (the changelog's end)", raw, want)
	}

	produce(t, c.Bootstrap(), "in", rounds(5, 1))
	second := start(t, wipingCount(t), cfg)
	out := consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 55 }, second)
	got := lastCounts(out)
	for k := range 5 {
		if key := fmt.Sprintf("k%d", k); got[key] != 11 {
			t.Errorf("%s counts %d after the restart, want 11", key, got[key])
		}
	}
}
