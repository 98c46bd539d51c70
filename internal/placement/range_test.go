package placement

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// members returns Members with the given keys, in that order.
func members(keys ...string) []Member {
	out := make([]Member, len(keys))
	for i, k := range keys {
		out[i] = Member{Key: k}
	}
	return out
}

// group builds a group or fails the test.
func group(t *testing.T, partitions int, keys ...string) Group {
	t.Helper()
	g, err := NewGroup(members(keys...), partitions)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// format renders an assignment in the order of g's members, as
// "i0{0,1} i1{2}", for readable failures.
func format(g Group, a Assignment) string {
	var b strings.Builder
	for i, m := range g.Members() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s{", m.Key)
		for j, p := range a[m] {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, p)
		}
		b.WriteByte('}')
	}
	return b.String()
}

// librdkafkaRange is rd_kafka_assign_ranges written out as its loop: an
// independent reference for Group.Assignment.
func librdkafkaRange(sorted []Member, partitions int) Assignment {
	a := make(Assignment, len(sorted))
	n := len(sorted)
	perConsumer, extra := partitions/n, partitions%n
	for i, m := range sorted {
		start := perConsumer*i + min(i, extra)
		length := perConsumer
		if i+1 <= extra {
			length++
		}
		ps := []int32{}
		for p := start; p < start+length; p++ {
			ps = append(ps, int32(p))
		}
		a[m] = ps
	}
	return a
}

func TestRangeSortsMembersAndGivesContiguousBlocksTheFirstPModNOneMore(t *testing.T) {
	for _, tc := range []struct {
		keys       []string // in the order given, not sorted
		partitions int
		want       string
	}{
		{[]string{"i2", "i0", "i1"}, 6, "i0{0,1} i1{2,3} i2{4,5}"},
		{[]string{"i1", "i2", "i0"}, 7, "i0{0,1,2} i1{3,4} i2{5,6}"},
		{[]string{"i3", "i1", "i0", "i2"}, 6, "i0{0,1} i1{2,3} i2{4} i3{5}"},
		{[]string{"b", "a", "d", "c"}, 2, "a{0} b{1} c{} d{}"},
		{[]string{"solo"}, 5, "solo{0,1,2,3,4}"},
		{[]string{"x", "y"}, 0, "x{} y{}"},
		// Byte-wise order: "i10" sorts before "i2", as librdkafka and kfake compare.
		{[]string{"i2", "i10", "i1"}, 3, "i1{0} i10{1} i2{2}"},
	} {
		g := group(t, tc.partitions, tc.keys...)
		a := g.Assignment()
		if got := format(g, a); got != tc.want {
			t.Errorf("Range(%v, %d) = %s, want %s", tc.keys, tc.partitions, got, tc.want)
		}
		viaFunc, err := Range(members(tc.keys...), tc.partitions)
		if err != nil {
			t.Fatal(err)
		}
		if got := format(g, viaFunc); got != tc.want {
			t.Errorf("package Range(%v, %d) = %s, want %s", tc.keys, tc.partitions, got, tc.want)
		}
	}
}

// The design note's example (E7, N=3, P=6): without i0 the blocks of i1 and
// i2 shift, so partition 3 moves between survivors, to i2, which is also
// its Successor (the owner of 3 once i1 leaves).
func TestDepartureOfTheFirstMemberShiftsTheSurvivorsBlocksOntoSuccessors(t *testing.T) {
	g := group(t, 6, "i0", "i1", "i2")
	after := g.Without(Member{"i0"})
	if got, want := format(after, after.Assignment()), "i1{0,1,2} i2{3,4,5}"; got != want {
		t.Fatalf("without i0: %s, want %s", got, want)
	}
	for _, tc := range []struct {
		p     int32
		owner string
		succ  string
		neigh []string
	}{
		{0, "i0", "i1", []string{"i1", "i2"}},
		{1, "i0", "i1", []string{"i1", "i2"}},
		{2, "i1", "i0", []string{"i0", "i2"}},
		{3, "i1", "i2", []string{"i0", "i2"}},
		{4, "i2", "i1", []string{"i0", "i1"}},
		{5, "i2", "i1", []string{"i0", "i1"}},
	} {
		owner, err := g.Owner(tc.p)
		if err != nil || owner.Key != tc.owner {
			t.Errorf("Owner(%d) = %v, %v; want %s", tc.p, owner, err, tc.owner)
		}
		succ, ok, err := g.Successor(tc.p)
		if err != nil || !ok || succ.Key != tc.succ {
			t.Errorf("Successor(%d) = %v, %v, %v; want %s", tc.p, succ, ok, err, tc.succ)
		}
		neigh, err := g.Neighbours(tc.p)
		if err != nil || !slices.Equal(neigh, members(tc.neigh...)) {
			t.Errorf("Neighbours(%d) = %v, %v; want %v", tc.p, neigh, err, tc.neigh)
		}
	}
	for _, tc := range []struct {
		self   string
		k      int
		expect []int32
	}{
		{"i0", 1, []int32{2}}, {"i1", 1, []int32{0, 1, 4, 5}}, {"i2", 1, []int32{3}},
		{"i0", 2, []int32{2, 3, 4, 5}}, {"i1", 2, []int32{0, 1, 4, 5}}, {"i2", 2, []int32{0, 1, 2, 3}},
		{"i0", All, []int32{2, 3, 4, 5}}, {"i1", 0, nil},
	} {
		got, err := g.Standbys(Member{tc.self}, tc.k)
		if err != nil || !slices.Equal(got, tc.expect) {
			t.Errorf("Standbys(%s, %d) = %v, %v; want %v", tc.self, tc.k, got, err, tc.expect)
		}
	}
}

// A join moves a partition between members already in the group to a
// neighbour of its owner that is not always its Successor: here partition 3
// moves i1 -> i0 when "a" joins first in the order, but its Successor (the
// k=1 holder) is i2; only the second standby (k=2, both neighbours) is on i0.
func TestSecondStandbyWarmsAJoinsMoveTheSuccessorMisses(t *testing.T) {
	g := group(t, 6, "i0", "i1", "i2")
	joined, err := g.With(Member{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := format(joined, joined.Assignment()), "a{0,1} i0{2,3} i1{4} i2{5}"; got != want {
		t.Fatalf("after a joins: %s, want %s", got, want)
	}
	if succ, _, _ := g.Successor(3); succ.Key != "i2" {
		t.Fatalf("Successor(3) = %v, want i2", succ)
	}
	k1, _ := g.Standbys(Member{"i0"}, 1)
	k2, _ := g.Standbys(Member{"i0"}, 2)
	if slices.Contains(k1, 3) {
		t.Errorf("k=1 standbys of i0 = %v: contain 3, whose successor is i2", k1)
	}
	if !slices.Contains(k2, 3) {
		t.Errorf("k=2 standbys of i0 = %v: lack 3, which moves to i0 when a joins", k2)
	}
}

// keysN returns n keys of fixed width in a shuffled order, so the tests do
// not rely on the caller sorting.
func keysN(n int, rng *rand.Rand) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Key: fmt.Sprintf("m%02d", i)}
	}
	rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	return ms
}

// Exhaustive over N=2..8, P=1..64 and every single departure (the design
// note's E7): the assignment equals librdkafka's loop; the set of owners a
// partition has after some single departure, its owner excluded, is exactly
// {Successor}, so every partition that changes owner, from the departed
// member or between survivors, lands among the k=1 standbys of its new
// owner (and so among its k=2 standbys); Successor is a Neighbour; and the
// moves total the note's figures.
func TestEverySingleDepartureMovesEachPartitionOntoItsSuccessor(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var fromDead, betweenSurvivors, cases int
	for n := 2; n <= 8; n++ {
		for p := 1; p <= 64; p++ {
			g, err := NewGroup(keysN(n, rng), p)
			if err != nil {
				t.Fatal(err)
			}
			before := g.Assignment()
			if want := librdkafkaRange(g.Members(), p); format(g, before) != format(g, want) {
				t.Fatalf("N=%d P=%d: %s, librdkafka's loop gives %s", n, p, format(g, before), format(g, want))
			}
			k1 := map[Member][]int32{}
			k2 := map[Member][]int32{}
			for _, m := range g.Members() {
				k1[m], _ = g.Standbys(m, 1)
				k2[m], _ = g.Standbys(m, 2)
			}
			nextOwners := make([]map[Member]bool, p) // per partition, over all departures
			for part := range nextOwners {
				nextOwners[part] = map[Member]bool{}
			}
			for _, gone := range g.Members() {
				cases++
				after := g.Without(gone)
				for part := int32(0); part < int32(p); part++ {
					was, _ := g.Owner(part)
					now, err := after.Owner(part)
					if err != nil {
						t.Fatal(err)
					}
					if now == was {
						continue
					}
					nextOwners[part][now] = true
					if !slices.Contains(k1[now], part) || !slices.Contains(k2[now], part) {
						t.Errorf("N=%d P=%d without %s: p=%d moved %s->%s, not among %s's standbys (k=1 %v, k=2 %v)",
							n, p, gone, part, was, now, now, k1[now], k2[now])
					}
					if was == gone {
						fromDead++
					} else {
						betweenSurvivors++
					}
				}
			}
			for part := int32(0); part < int32(p); part++ {
				succ, ok, _ := g.Successor(part)
				if !ok || len(nextOwners[part]) != 1 || !nextOwners[part][succ] {
					t.Errorf("N=%d P=%d p=%d: owners after one departure %v, Successor %v", n, p, part, nextOwners[part], succ)
				}
				if neigh, _ := g.Neighbours(part); !slices.Contains(neigh, succ) {
					t.Errorf("N=%d P=%d p=%d: Successor %s is not a neighbour %v", n, p, part, succ, neigh)
				}
			}
		}
	}
	if cases != 2240 || fromDead != 14560 || betweenSurvivors != 14560 {
		t.Errorf("%d departures moved %d partitions from the departed member and %d between survivors; the design note counts 2240, 14560, 14560",
			cases, fromDead, betweenSurvivors)
	}
}

// Exhaustive joins (N=1..7 joined by one member at every position of the
// order, P=1..64): OwnedAfterJoin predicts what the joined group gives the
// newcomer, and every partition a join moves between members already there
// lands among its new owner's k=2 standbys, some of them off the k=1
// Successor; the totals are the design note's 40 %, half to the newcomer.
func TestEveryJoinMovesPartitionsToTheNewcomerOrAK2Holder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var moved, total, toNewcomer, offSuccessor int
	for n := 1; n <= 7; n++ {
		for p := 1; p <= 64; p++ {
			g, err := NewGroup(keysN(n, rng), p)
			if err != nil {
				t.Fatal(err)
			}
			k2 := map[Member][]int32{}
			for _, m := range g.Members() {
				k2[m], _ = g.Standbys(m, 2)
			}
			// Members are m00..m(n-1); the newcomer's key sorts right after
			// m(pos-1) ("m03" < "m03j" < "m04"), or first as "a".
			for pos := 0; pos <= n; pos++ {
				newcomer := Member{Key: "a"}
				if pos > 0 {
					newcomer = Member{Key: fmt.Sprintf("m%02dj", pos-1)}
				}
				owned, err := g.OwnedAfterJoin(newcomer)
				if err != nil {
					t.Fatal(err)
				}
				joined, err := g.With(newcomer)
				if err != nil {
					t.Fatal(err)
				}
				if want := joined.Assignment()[newcomer]; !slices.Equal(owned, want) {
					t.Errorf("N=%d P=%d join %s: OwnedAfterJoin %v, joined group gives %v", n, p, newcomer, owned, want)
				}
				for part := int32(0); part < int32(p); part++ {
					total++
					was, _ := g.Owner(part)
					now, _ := joined.Owner(part)
					if was == now {
						continue
					}
					moved++
					if now == newcomer {
						toNewcomer++
						continue
					}
					if !slices.Contains(k2[now], part) {
						t.Errorf("N=%d P=%d join %s: p=%d moved %s->%s, not among its k=2 standbys %v", n, p, newcomer, part, was, now, k2[now])
					}
					if succ, _, _ := g.Successor(part); succ != now {
						offSuccessor++
					}
				}
			}
		}
	}
	if pct := 100 * float64(moved) / float64(total); pct < 39.95 || pct >= 40.05 || 2*toNewcomer != moved {
		t.Errorf("joins moved %d of %d partitions (%.2f%%), %d to the newcomer; the design note says 40.0%%, half", moved, total, pct, toNewcomer)
	}
	if offSuccessor == 0 {
		t.Error("no join moved a partition off its Successor: k=2 would add nothing for joins")
	}
	t.Logf("joins move %d of %d partitions, %d to the newcomer, %d between members off the Successor", moved, total, toNewcomer, offSuccessor)
}

func TestExtremeInputsAreErrorsOrEmptyNeverPanics(t *testing.T) {
	// No members: an empty assignment, and no owner for any partition.
	empty := group(t, 6)
	if a := empty.Assignment(); len(a) != 0 {
		t.Errorf("assignment of no members = %v", a)
	}
	if a, err := Range(nil, 6); err != nil || len(a) != 0 {
		t.Errorf("Range(nil, 6) = %v, %v", a, err)
	}
	if _, err := empty.Owner(0); err == nil || !strings.Contains(err.Error(), "no members") {
		t.Errorf("Owner on no members: %v", err)
	}
	if _, _, err := empty.Successor(0); err == nil {
		t.Error("Successor on no members: no error")
	}
	if _, err := empty.Standbys(Member{"x"}, 1); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("Standbys of a non-member: %v", err)
	}
	if owned, err := empty.OwnedAfterJoin(Member{"x"}); err != nil || !slices.Equal(owned, []int32{0, 1, 2, 3, 4, 5}) {
		t.Errorf("join of an empty group: %v, %v", owned, err)
	}
	var zero Group
	if _, err := zero.Owner(0); err == nil {
		t.Error("Owner on the zero Group: no error")
	}
	if ns, err := zero.Neighbours(0); err == nil || ns != nil {
		t.Errorf("Neighbours on the zero Group: %v, %v", ns, err)
	}

	// No partitions: members own nothing; every partition is out of range.
	noParts := group(t, 0, "a", "b")
	if got := format(noParts, noParts.Assignment()); got != "a{} b{}" {
		t.Errorf("P=0: %s", got)
	}
	if _, err := noParts.Owner(0); err == nil || !strings.Contains(err.Error(), "partition 0") {
		t.Errorf("Owner(0) with P=0: %v", err)
	}
	if sb, err := noParts.Standbys(Member{"a"}, 2); err != nil || len(sb) != 0 {
		t.Errorf("Standbys with P=0: %v, %v", sb, err)
	}

	// Out-of-range partitions.
	g := group(t, 4, "a", "b")
	for _, p := range []int32{-1, 4, math.MaxInt32} {
		if _, err := g.Owner(p); err == nil {
			t.Errorf("Owner(%d) of P=4: no error", p)
		}
		if _, _, err := g.Successor(p); err == nil {
			t.Errorf("Successor(%d) of P=4: no error", p)
		}
		if _, err := g.Neighbours(p); err == nil {
			t.Errorf("Neighbours(%d) of P=4: no error", p)
		}
	}

	// Bad groups.
	for _, tc := range []struct {
		keys       []string
		partitions int
		says       string
	}{
		{[]string{"a", "b", "a"}, 3, `"a" appears more than once`},
		{[]string{"a", ""}, 3, "empty key"},
		{[]string{"a"}, -1, "partition count -1"},
		{[]string{"a"}, math.MaxInt32 + 1, "partition count"},
	} {
		_, err := NewGroup(members(tc.keys...), tc.partitions)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("NewGroup(%q, %d) = %v, want an error saying %q", tc.keys, tc.partitions, err, tc.says)
		}
		if _, err := Range(members(tc.keys...), tc.partitions); err == nil {
			t.Errorf("Range(%q, %d): no error", tc.keys, tc.partitions)
		}
	}
	if _, err := g.With(Member{""}); err == nil {
		t.Error("With an empty key: no error")
	}
	if _, err := g.Standbys(Member{"a"}, 3); err == nil || !strings.Contains(err.Error(), "3 standbys") {
		t.Errorf("Standbys k=3: %v", err)
	}

	// One member: it owns everything, nobody succeeds it.
	solo := group(t, 3, "s")
	if _, ok, err := solo.Successor(1); ok || err != nil {
		t.Errorf("Successor in a group of one: ok=%v err=%v", ok, err)
	}
	for _, k := range []int{1, 2, All} {
		if sb, err := solo.Standbys(Member{"s"}, k); err != nil || len(sb) != 0 {
			t.Errorf("Standbys(k=%d) in a group of one: %v, %v", k, sb, err)
		}
	}
	if ns, err := solo.Neighbours(0); err != nil || len(ns) != 0 {
		t.Errorf("Neighbours in a group of one: %v, %v", ns, err)
	}

	// The largest partition count: no overflow at the top of the range.
	big := group(t, math.MaxInt32, "a", "b", "c", "d", "e", "f", "g")
	last, err := big.Owner(math.MaxInt32 - 1)
	if err != nil || last.Key != "g" {
		t.Errorf("Owner(MaxInt32-1) over 7 members = %v, %v; want g", last, err)
	}
	first, _ := big.Owner(0)
	if first.Key != "a" {
		t.Errorf("Owner(0) = %v, want a", first)
	}
	// a gets the one extra partition (2^31-1 = 7*306783378 + 1).
	if o, _ := big.Owner(306783378); o.Key != "a" {
		t.Errorf("Owner(306783378) = %v, want a (first member's extra partition)", o)
	}
	if o, _ := big.Owner(306783379); o.Key != "b" {
		t.Errorf("Owner(306783379) = %v, want b", o)
	}
}

func TestGroupIsNotChangedByWithWithoutOrTheCallersSlice(t *testing.T) {
	in := members("b", "a", "c")
	g, err := NewGroup(in, 3)
	if err != nil {
		t.Fatal(err)
	}
	in[0].Key = "z" // the caller's slice is copied
	g.Members()[0].Key = "y"
	_ = g.Without(Member{"a"})
	if _, err := g.With(Member{"d"}); err != nil {
		t.Fatal(err)
	}
	if got := format(g, g.Assignment()); got != "a{0} b{1} c{2}" {
		t.Errorf("group after the caller's edits and With/Without: %s", got)
	}
	if same := g.Without(Member{"nobody"}); format(same, same.Assignment()) != "a{0} b{1} c{2}" {
		t.Error("Without a non-member changed the group")
	}
	if same, _ := g.With(Member{"b"}); format(same, same.Assignment()) != "a{0} b{1} c{2}" {
		t.Error("With a member changed the group")
	}
}
