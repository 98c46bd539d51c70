package store_test

import (
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

func TestFindSessionsByEndReturnsEveryKeysSessionsEndingInTheRange(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			for _, cached := range []bool{false, true} {
				b := store.NewSessionBuilder(be.session("s", time.Hour), record.String(), record.Int64())
				if cached {
					b.WithCaching()
				}
				s := openBuilt[store.SessionStore[string, int64]](t, b, t.TempDir())
				for _, p := range []struct {
					k          string
					start, end int64
					v          int64
				}{{"b", 1, 4, 1}, {"a", 0, 2, 2}, {"a", 5, 9, 3}, {"c", 3, 3, 4}, {"b", 10, 12, 5}, {"a", 1, 1, 6}} {
					must(t, s.Put(store.Windowed[string]{Key: p.k, Start: p.start, End: p.end}, p.v))
				}
				must(t, s.Remove(store.Windowed[string]{Key: "a", Start: 1, End: 1}))
				if got, want := windowsText(s.FindSessionsByEnd(2, 9)), "[a@0/2]=2 [a@5/9]=3 [b@1/4]=1 [c@3/3]=4"; got != want {
					t.Errorf("cached %v: FindSessionsByEnd(2, 9):\n got %s\nwant %s", cached, got, want)
				}
				if got := windowsText(s.FindSessionsByEnd(10, 9)); got != "" {
					t.Errorf("cached %v: an empty range gave %s", cached, got)
				}
			}
		})
	}
}
