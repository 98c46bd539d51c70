package dsl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

func sjWindows(t testing.TB, before, after, grace time.Duration) window.JoinWindows {
	t.Helper()
	w, err := window.JoinBeforeAfter(before, after, grace)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func sjOr(s *string) string {
	if s == nil {
		return "nil"
	}
	return *s
}

// sjTopology joins streams "left" and "right" (strings) with kind within w,
// the joiner writing "l+r" ("nil" for an absent side), to topic "out".
func sjTopology(t testing.TB, kind string, w window.JoinWindows, opts ...dsl.Option) *dsl.Builder {
	b := dsl.NewBuilder()
	l, r := strStream(b, "left"), strStream(b, "right")
	var out dsl.Stream[string, string]
	switch kind {
	case "inner":
		out = dsl.Join(l, r, func(a, b string) string { return a + "+" + b }, w, opts...)
	case "left":
		out = dsl.LeftJoin(l, r, func(a string, b *string) string { return a + "+" + sjOr(b) }, w, opts...)
	case "outer":
		out = dsl.OuterJoin(l, r, func(a, b *string) string { return sjOr(a) + "+" + sjOr(b) }, w, opts...)
	default:
		t.Fatalf("kind %q", kind)
	}
	dsl.To(out, "out")
	return b
}

type sjInputs struct {
	d           *testdriver.Driver
	left, right *testdriver.InputTopic[string, string]
	out         *testdriver.OutputTopic[string, string]
}

func sjStart(t testing.TB, b *dsl.Builder) sjInputs { return sjOn(newDriver(t, b)) }

func sjOn(d *testdriver.Driver) sjInputs {
	return sjInputs{d: d, left: testdriver.CreateInputTopic(d, "left", record.String(), record.String()),
		right: testdriver.CreateInputTopic(d, "right", record.String(), record.String()),
		out:   testdriver.CreateOutputTopic(d, "out", record.String(), record.String())}
}

// sjOut reads what the join wrote since the last call.
func sjOut(t testing.TB, in sjInputs) string {
	t.Helper()
	rs, err := in.out.ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, r := range fromRecords(rs) {
		s = append(s, r.String())
	}
	return strings.Join(s, " ")
}

func sjSame(t testing.TB, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got  %s\n want %s", what, got, want)
	}
}

func TestStreamJoinPairsWithinTheWindowAtTheLaterTimestamp(t *testing.T) {
	in := sjStart(t, sjTopology(t, "inner", sjWindows(t, 10*time.Millisecond, 10*time.Millisecond, 5*time.Millisecond)))
	pipe(t, in.left, "k", "L1", 100)
	pipe(t, in.right, "k", "R1", 110) // 10 ms after L1: inside
	pipe(t, in.right, "k", "R2", 111) // 11 ms after: outside
	pipe(t, in.right, "x", "R3", 100) // another key
	pipe(t, in.left, "k", "L2", 105)  // pairs with R1 and R2, oldest first
	pipe(t, in.right, "k", "R4", 90)  // late; 10 ms before L1 (pairs), 15 before L2 (not)
	sjSame(t, "inner join", sjOut(t, in), "k=L1+R1@110 k=L2+R1@110 k=L2+R2@111 k=L1+R4@100")
}

func TestStreamJoinBeforeAndAfterAreAsymmetric(t *testing.T) {
	// A left record at 100 pairs with right records in [95, 120].
	in := sjStart(t, sjTopology(t, "inner", sjWindows(t, 5*time.Millisecond, 20*time.Millisecond, 0)))
	pipe(t, in.left, "k", "L", 100)
	for _, ts := range []int64{94, 95, 120, 121} {
		pipe(t, in.right, "k", fmt.Sprint("R", ts), ts)
	}
	sjSame(t, "right records", sjOut(t, in), "k=L+R95@100 k=L+R120@120")
	// And from the right: a right record at 200 pairs with left records in
	// [180, 205].
	pipe(t, in.right, "m", "R", 200)
	for _, ts := range []int64{179, 180, 205, 206} {
		pipe(t, in.left, "m", fmt.Sprint("L", ts), ts)
	}
	sjSame(t, "left records", sjOut(t, in), "m=L180+R@200 m=L205+R@205")
}

func TestStreamLeftJoinEmitsAnUnmatchedRecordOnceItsWindowAndGraceClose(t *testing.T) {
	in := sjStart(t, sjTopology(t, "left", sjWindows(t, 10*time.Millisecond, 10*time.Millisecond, 5*time.Millisecond)))
	pipe(t, in.left, "k", "L1", 100)
	pipe(t, in.left, "m", "M1", 101)
	pipe(t, in.right, "m", "R1", 104) // M1 pairs: never emitted unmatched
	pipe(t, in.right, "q", "Q1", 105) // a right record without a pair: never emitted
	pipe(t, in.left, "z", "Z1", 115)  // L1 closes at 100+10+5 = 115: not yet
	sjSame(t, "before L1's window closed", sjOut(t, in), "m=M1+R1@104")
	pipe(t, in.left, "z", "Z2", 116) // stream time 116 > 115: L1 alone, at its own time
	sjSame(t, "after L1's window closed", sjOut(t, in), "k=L1+nil@100")
	pipe(t, in.right, "y", "Y", 200)
	sjSame(t, "later", sjOut(t, in), "z=Z1+nil@115 z=Z2+nil@116")
}

func TestStreamJoinGraceLetsALateRecordPairBeforeTheUnmatchedResult(t *testing.T) {
	in := sjStart(t, sjTopology(t, "left", sjWindows(t, 10*time.Millisecond, 10*time.Millisecond, 5*time.Millisecond)))
	pipe(t, in.left, "k", "L", 100)
	pipe(t, in.right, "x", "X", 113) // stream time 113: L's window (110) is past, its grace (115) is not
	pipe(t, in.right, "k", "R", 108) // late, within grace: pairs
	pipe(t, in.right, "x", "X2", 200)
	sjSame(t, "left join", sjOut(t, in), "k=L+R@108")
}

func TestStreamJoinWithoutGraceClosesAtTheWindowEnd(t *testing.T) {
	in := sjStart(t, sjTopology(t, "left", sjWindows(t, 10*time.Millisecond, 10*time.Millisecond, 0)))
	pipe(t, in.left, "k", "L", 100)
	pipe(t, in.right, "x", "X", 110)
	sjSame(t, "at the window end", sjOut(t, in), "")
	pipe(t, in.right, "x", "X", 111)
	sjSame(t, "past the window end", sjOut(t, in), "k=L+nil@100")
}

func TestStreamOuterJoinEmitsUnmatchedRecordsOfBothSides(t *testing.T) {
	in := sjStart(t, sjTopology(t, "outer", sjWindows(t, 10*time.Millisecond, 10*time.Millisecond, 0)))
	pipe(t, in.left, "k", "L1", 100)
	pipe(t, in.right, "q", "R1", 101)
	pipe(t, in.right, "k", "R2", 105) // pairs with L1
	pipe(t, in.left, "k", "L2", 130)  // 25 after R2: no pair; closes L1's, R1's and R2's windows
	sjSame(t, "first", sjOut(t, in), "k=L1+R2@105 q=nil+R1@101")
	pipe(t, in.right, "z", "Z", 141)
	sjSame(t, "second", sjOut(t, in), "k=L2+nil@130")
}

func TestStreamJoinsInterleaveBothSidesByTimestamp(t *testing.T) {
	in := sjStart(t, sjTopology(t, "left", sjWindows(t, 5*time.Millisecond, 5*time.Millisecond, 0)))
	// Piped in one batch, the right record (earlier) is processed first,
	// so the left record finds it at once.
	if err := in.d.Batch(func() error {
		if err := in.left.Pipe("k", "L", 10); err != nil {
			return err
		}
		return in.right.Pipe("k", "R", 7)
	}); err != nil {
		t.Fatal(err)
	}
	sjSame(t, "batch", sjOut(t, in), "k=L+R@10")
}

func TestStreamJoinNullKeysAndValuesFollowKIP962(t *testing.T) {
	for _, tc := range []struct {
		kind                 string
		want                 string
		nullKeys, nullValues int64
	}{
		{"inner", "", 2, 2},
		{"left", "<null>=L+nil@1", 1, 2},
		{"outer", "<null>=L+nil@1 <null>=nil+R@2", 0, 2},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			in := sjStart(t, sjTopology(t, tc.kind, sjWindows(t, 10*time.Millisecond, 10*time.Millisecond, 0)))
			tblPipe(t, in.left, nil, tblPtr("L"), 1)
			tblPipe(t, in.right, nil, tblPtr("R"), 2)
			tblPipe(t, in.left, tblPtr("k"), nil, 3)
			tblPipe(t, in.right, tblPtr("k"), nil, 4)
			sjSame(t, tc.kind, sjOut(t, in), tc.want)
			if n := tblDropped(t, in.d, dsl.DropNullKey); n != tc.nullKeys {
				t.Errorf("null keys dropped %d, want %d", n, tc.nullKeys)
			}
			if n := tblDropped(t, in.d, dsl.DropNullValue); n != tc.nullValues {
				t.Errorf("null values dropped %d, want %d", n, tc.nullValues)
			}
		})
	}
}

func TestStreamJoinKeepsTheHeadersOfTheRecordThatCompletesThePair(t *testing.T) {
	in := sjStart(t, sjTopology(t, "inner", sjWindows(t, 10*time.Millisecond, 10*time.Millisecond, 0)))
	pipe(t, in.left, "k", "L", 1, record.Header{Key: "from", Value: []byte("left")})
	pipe(t, in.right, "k", "R", 2, record.Header{Key: "from", Value: []byte("right")})
	got := readStrings(t, in.d, "out")
	if len(got) != 1 || string(got[0].Headers[0].Value) != "right" {
		t.Errorf("got %v", got)
	}
}

func TestStreamJoinRepartitionsASideWhoseKeyChanged(t *testing.T) {
	b := dsl.NewBuilder()
	// Orders keyed by order id, valued "user:item"; users' clicks keyed by user.
	orders := strStream(b, "left")
	clicks := strStream(b, "right")
	byUser := dsl.SelectKey(orders, func(_, v string) string { return strings.SplitN(v, ":", 2)[0] })
	joined := dsl.Join(byUser, clicks, func(o, c string) string { return strings.SplitN(o, ":", 2)[1] + " after " + c },
		sjWindows(t, time.Second, time.Second, 0))
	dsl.To(joined, "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	topic := byUser.NodeName() + "-repartition"
	if !strings.Contains(desc, "topic "+topic) {
		t.Errorf("no generated repartition topic %s in\n%s", topic, desc)
	}
	if strings.Contains(desc, clicks.NodeName()+"-repartition") {
		t.Errorf("the unchanged side was repartitioned:\n%s", desc)
	}
	in := sjStart(t, b)
	pipe(t, in.right, "u1", "home", 10)
	pipe(t, in.left, "o1", "u1:tea", 20)
	pipe(t, in.left, "o2", "u2:jam", 30)
	pipe(t, in.right, "u2", "cart", 40)
	sjSame(t, "joined", sjOut(t, in), "u1=tea after home@20 u2=jam after cart@40")
}

func TestStreamJoinNamedNamesProcessorsAndRepartitionTopics(t *testing.T) {
	b := dsl.NewBuilder()
	l := dsl.SelectKey(strStream(b, "left"), func(k, _ string) string { return k })
	r := dsl.SelectKey(strStream(b, "right"), func(k, _ string) string { return k })
	out := dsl.LeftJoin(l, r, func(a string, b *string) string { return a }, sjWindows(t, time.Second, time.Second, 0), dsl.Named("pay"))
	dsl.To(out, "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pay-left-repartition", "pay-right-repartition", "pay-this-join", "pay-outer-other-join", "pay-merge"} {
		if !strings.Contains(desc, want) {
			t.Errorf("no %s in\n%s", want, desc)
		}
	}
	if out.NodeName() != "pay-merge" {
		t.Errorf("output node %s", out.NodeName())
	}
}

func TestStreamJoinStoreNamesAreKafkaStreams(t *testing.T) {
	w := sjWindows(t, time.Second, time.Second, 0)
	for _, tc := range []struct {
		kind string
		opts []dsl.Option
		want []string
	}{
		{"inner", nil, []string{"KSTREAM-JOINTHIS-0000000004-store", "KSTREAM-JOINOTHER-0000000005-store"}},
		{"left", nil, []string{"KSTREAM-JOINTHIS-0000000004-store", "KSTREAM-OUTEROTHER-0000000005-store",
			"KSTREAM-OUTERSHARED-0000000004-store"}},
		{"outer", nil, []string{"KSTREAM-OUTERTHIS-0000000004-store", "KSTREAM-OUTEROTHER-0000000005-store",
			"KSTREAM-OUTERSHARED-0000000004-store"}},
		{"inner", []dsl.Option{dsl.As("pay")}, []string{"pay-this-join-store", "pay-other-join-store"}},
		{"left", []dsl.Option{dsl.As("pay")}, []string{"pay-this-join-store", "pay-outer-other-join-store", "pay-left-shared-join-store"}},
		{"outer", []dsl.Option{dsl.As("pay")}, []string{"pay-outer-this-join-store", "pay-outer-other-join-store", "pay-outer-shared-join-store"}},
	} {
		t.Run(fmt.Sprint(tc.kind, len(tc.opts)), func(t *testing.T) {
			b := sjTopology(t, tc.kind, w, tc.opts...)
			d := newDriver(t, b)
			for _, n := range tc.want {
				if _, err := d.Store(n); err != nil {
					t.Errorf("store %s: %v", n, err)
				}
			}
			var unnamed []string
			for _, n := range b.Unnamed() {
				if strings.HasPrefix(n, "store ") {
					unnamed = append(unnamed, strings.TrimPrefix(n, "store "))
				}
			}
			if len(tc.opts) == 0 && fmt.Sprint(unnamed) != fmt.Sprint(tc.want) {
				t.Errorf("Unnamed lists %v, want %v", unnamed, tc.want)
			}
			if len(tc.opts) > 0 && len(unnamed) > 0 {
				t.Errorf("named stores listed as unnamed: %v", unnamed)
			}
		})
	}
}

func TestStreamJoinStoresAreRocksDBUnlessInMemory(t *testing.T) {
	w := sjWindows(t, time.Second, time.Second, 0)
	for _, inMemory := range []bool{false, true} {
		var opts []dsl.Option
		if inMemory {
			opts = append(opts, dsl.InMemory())
		}
		d := newDriver(t, sjTopology(t, "left", w, append(opts, dsl.As("j"))...))
		for _, n := range []string{"j-this-join-store", "j-outer-other-join-store", "j-left-shared-join-store"} {
			s, err := d.Store(n)
			if err != nil {
				t.Fatal(err)
			}
			if want := !inMemory && dsl.DefaultBackend == "rocksdb"; s.Persistent() != want {
				t.Errorf("InMemory=%v (default backend %s): store %s persistent=%v", inMemory, dsl.DefaultBackend, n, s.Persistent())
			}
		}
	}
}

func TestStreamJoinRestoresItsBuffersAfterARestart(t *testing.T) {
	if dsl.DefaultBackend != "rocksdb" {
		t.Skip("the default backend is in memory (millrace_norocksdb): no state survives in the state directory")
	}
	dir := t.TempDir()
	w := sjWindows(t, 10*time.Millisecond, 10*time.Millisecond, 0)
	topo := mustBuild(t, sjTopology(t, "left", w, dsl.As("j")))
	start := func() sjInputs {
		d, err := testdriver.New(topo, testdriver.Config{ApplicationID: "x", StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return sjOn(d)
	}
	in := start()
	pipe(t, in.left, "k", "L1", 100)
	pipe(t, in.left, "m", "M1", 101)
	pipe(t, in.right, "r", "R0", 102)
	sjSame(t, "before the restart", sjOut(t, in), "")
	if err := in.d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err != nil {
		t.Fatalf("no state directory: %v", err)
	}
	in = start()
	defer in.d.Close()
	pipe(t, in.right, "k", "R1", 105) // pairs with L1 from before the restart
	pipe(t, in.left, "r", "L2", 103)  // pairs with R0 from before the restart
	pipe(t, in.right, "z", "Z", 200)  // closes M1's window: unmatched, once
	sjSame(t, "after the restart", sjOut(t, in), "k=L1+R1@105 r=L2+R0@103 m=M1+nil@101")
}

func TestStreamJoinBuildErrors(t *testing.T) {
	w := sjWindows(t, time.Second, time.Second, 0)
	type point struct{ X int }
	for _, tc := range []struct {
		name  string
		build func(b *dsl.Builder)
		want  error
		op    string
	}{
		{"declared partitions differ", func(b *dsl.Builder) {
			l := dsl.FromTopics(b, []string{"l"}, record.String(), record.String(), dsl.Partitions(2))
			r := dsl.FromTopics(b, []string{"r"}, record.String(), record.String(), dsl.Partitions(3))
			dsl.Join(l, r, func(a, b string) string { return a + b }, w)
		}, dsl.ErrNotCoPartitioned, "Join"},
		{"repartition count differs from the other side's", func(b *dsl.Builder) {
			l := dsl.SelectKey(strStream(b, "l"), func(k, _ string) string { return k })
			r := dsl.FromTopics(b, []string{"r"}, record.String(), record.String(), dsl.Partitions(3))
			dsl.LeftJoin(l, r, func(a string, b *string) string { return a }, w, dsl.Partitions(4))
		}, dsl.ErrNotCoPartitioned, "LeftJoin"},
		{"left values without serde", func(b *dsl.Builder) {
			l := dsl.MapValues(strStream(b, "l"), func(string) point { return point{} })
			dsl.Join(l, strStream(b, "r"), func(p point, s string) string { return s }, w)
		}, dsl.ErrMissingSerde, "Join"},
		{"right values without serde", func(b *dsl.Builder) {
			r := dsl.MapValues(strStream(b, "r"), func(string) point { return point{} })
			dsl.OuterJoin(strStream(b, "l"), r, func(s *string, p *point) string { return "" }, w)
		}, dsl.ErrMissingSerde, "OuterJoin"},
		{"other value serde of the wrong type", func(b *dsl.Builder) {
			dsl.Join(strStream(b, "l"), strStream(b, "r"), func(a, b string) string { return a }, w, dsl.OtherValueSerde(record.Int64()))
		}, dsl.ErrSerdeType, "Join"},
		{"nil joiner", func(b *dsl.Builder) {
			dsl.Join[string, string, string, string](strStream(b, "l"), strStream(b, "r"), nil, w)
		}, dsl.ErrNilFunction, "Join"},
		{"handles of two builders", func(b *dsl.Builder) {
			dsl.Join(strStream(b, "l"), strStream(dsl.NewBuilder(), "r"), func(a, b string) string { return a }, w)
		}, dsl.ErrInvalidOperator, "Join"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			tc.build(b)
			err := tblBuildErr(t, b, tc.want)
			if !strings.Contains(err.Error(), tc.op) {
				t.Errorf("error does not name %s: %v", tc.op, err)
			}
		})
	}
}

func TestStreamJoinWithSerdeOptionsForAStructValue(t *testing.T) {
	type point struct{ X int }
	ps := record.SerdeFuncs(func(p point) ([]byte, error) { return []byte(fmt.Sprint(p.X)), nil },
		func(b []byte) (point, error) {
			var p point
			_, err := fmt.Sscan(string(b), &p.X)
			return p, err
		})
	b := dsl.NewBuilder()
	l := dsl.MapValues(strStream(b, "left"), func(v string) point { return point{X: len(v)} })
	r := dsl.SelectKey(dsl.MapValues(strStream(b, "right"), func(v string) point { return point{X: 10 * len(v)} }),
		func(k string, _ point) string { return k })
	out := dsl.Join(l, r, func(a, b point) string { return fmt.Sprint(a.X + b.X) }, sjWindows(t, time.Second, time.Second, 0),
		dsl.ValueSerde(ps), dsl.OtherValueSerde(ps))
	dsl.To(out, "out")
	in := sjStart(t, b)
	pipe(t, in.left, "k", "abc", 1)
	pipe(t, in.right, "k", "ab", 2)
	sjSame(t, "joined", sjOut(t, in), "k=23@2")
}

func TestStreamJoinStoresAreWindowStoresWithChangelogsUnlessWithoutLogging(t *testing.T) {
	w := sjWindows(t, time.Second, time.Second, time.Second)
	for _, logged := range []bool{true, false} {
		opts := []dsl.Option{dsl.As("j")}
		if !logged {
			opts = append(opts, dsl.WithoutLogging())
		}
		stores := mustBuild(t, sjTopology(t, "outer", w, opts...)).Describe().Stores
		if len(stores) != 3 {
			t.Fatalf("stores %+v", stores)
		}
		for _, s := range stores {
			if (s.Changelog != "") != logged {
				t.Errorf("logged=%v: store %s has changelog %q", logged, s.Name, s.Changelog)
			}
			if s.Name != "j-outer-shared-join-store" && s.Kind != "window" {
				t.Errorf("store %s is a %s store", s.Name, s.Kind)
			}
		}
	}
}
