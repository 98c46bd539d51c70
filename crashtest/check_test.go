package crashtest

import (
	"fmt"
	"strings"
	"testing"
)

// errs records what a check reports.
type errs []string

func (e *errs) Helper() {}
func (e *errs) Errorf(format string, args ...any) {
	*e = append(*e, fmt.Sprintf(format, args...))
}

// exactOutput is what a correct run produces for in: each key's results
// 1..n_k, once, in order, in one partition.
func exactOutput(in *input) []out {
	var o []out
	for i, k := range in.keys {
		o = append(o, out{key: k, r: result{Count: in.seqs[i], Seq: in.seqs[i]}, offset: int64(i)})
	}
	return o
}

func smallInput() *input {
	in := &input{want: map[string]int64{}}
	for _, k := range []string{"a", "b", "a", "a", "b", "c"} {
		in.want[k]++
		in.keys = append(in.keys, k)
		in.seqs = append(in.seqs, in.want[k])
	}
	return in
}

// The checks must break when the guarantee breaks: every kind of damage a
// crash can do to the output is caught under the guarantee that forbids it,
// and measured (not failed) where at-least-once allows it.
func TestChecksCatchWhatTheGuaranteeForbids(t *testing.T) {
	eos := scenario{name: "eos", eos: true, kills: true}
	alos := scenario{name: "alos", kills: true}
	clean := scenario{name: "clean", kills: false}
	in := smallInput()
	// A replay after a crash: a's first two inputs counted again, on top of
	// a changelog that already held them (a at-least-once over-count).
	replayed := exactOutput(in)
	replayed = append(replayed[:4:4], out{key: "a", r: result{Count: 4, Seq: 2}}, out{key: "a", r: result{Count: 5, Seq: 3}})
	replayed = append(replayed, exactOutput(in)[4:]...)
	// The same replay on a changelog behind the outputs: the counts rewind.
	rewound := exactOutput(in)
	rewound = append(rewound[:4:4], out{key: "a", r: result{Count: 2, Seq: 2}}, out{key: "a", r: result{Count: 3, Seq: 3}})
	rewound = append(rewound, exactOutput(in)[4:]...)
	lost := exactOutput(in)[1:]  // a's first result is missing
	lostState := exactOutput(in) // b's second input counted as 1: its state was lost
	lostState[4].r.Count = 1
	tests := []struct {
		name   string
		sc     scenario
		output []out
		want   string // a fragment of the error; "" for none
	}{
		{"exact output passes under EOS", eos, exactOutput(in), ""},
		{"exact output passes under ALOS", alos, exactOutput(in), ""},
		{"a replay is a duplicate under EOS", eos, replayed, "a duplicate"},
		{"a replay is a duplicate with clean restarts", clean, replayed, "a duplicate"},
		{"a replay is allowed under ALOS", alos, replayed, ""},
		{"a rewind is allowed under ALOS", alos, rewound, ""},
		{"a rewind breaks EOS", eos, rewound, "went from"},
		{"a lost result breaks EOS", eos, lost, "lost"},
		{"a lost result breaks ALOS", alos, lost, "lost"},
		{"lost state breaks ALOS", alos, lostState, "updates were lost"},
		{"lost state breaks EOS", eos, lostState, "want exactly"},
		{"a key in two partitions breaks ALOS", alos, append(exactOutput(in), out{key: "c", r: result{Count: 2, Seq: 1}, partition: 3}), "partitions"},
		{"an unknown key breaks ALOS", alos, append(exactOutput(in), out{key: "zz", r: result{Count: 1, Seq: 1}}), "not in the input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e errs
			check(&e, tt.sc, in, tt.output)
			got := strings.Join(e, "\n")
			switch {
			case tt.want == "" && len(e) > 0:
				t.Errorf("unexpected errors:\n%s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("errors %q lack %q", got, tt.want)
			}
		})
	}

	var e errs
	rep := check(&e, alos, in, replayed)
	if rep.duplicates != 2 || rep.overCount != 2 || rep.overKeys != 1 || rep.rewinds != 0 || rep.last["a"] != 5 {
		t.Errorf("replay measured as %+v, want 2 duplicates, over-count 2 on 1 key, no rewind, a's last count 5", rep)
	}
	rep = check(&e, alos, in, rewound)
	if rep.duplicates != 2 || rep.overCount != 0 || rep.rewinds != 1 {
		t.Errorf("rewind measured as %+v, want 2 duplicates, no over-count, 1 rewind", rep)
	}
}

func TestDumpChecksCompareTheStoreWithTheGuarantee(t *testing.T) {
	in := smallInput()
	exact := map[string]int64{"a": 3, "b": 2, "c": 1}
	tests := []struct {
		name string
		sc   scenario
		last map[string]int64
		dump map[string]int64
		want string
	}{
		{"exact store passes under EOS", scenario{eos: true, kills: true}, exact, exact, ""},
		{"an over-counted store breaks EOS", scenario{eos: true, kills: true}, exact, map[string]int64{"a": 4, "b": 2, "c": 1}, "want 3"},
		{"an over-counted store matching the output passes under ALOS", scenario{kills: true}, map[string]int64{"a": 5, "b": 2, "c": 1}, map[string]int64{"a": 5, "b": 2, "c": 1}, ""},
		{"a store behind the output breaks ALOS", scenario{kills: true}, map[string]int64{"a": 5, "b": 2, "c": 1}, map[string]int64{"a": 4, "b": 2, "c": 1}, "last count is 5"},
		{"a store under the inputs breaks ALOS", scenario{kills: true}, exact, map[string]int64{"a": 2, "b": 2, "c": 1}, "lost updates"},
		{"a missing key breaks EOS", scenario{eos: true, kills: true}, exact, map[string]int64{"a": 3, "b": 2}, "c missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e errs
			checkDump(&e, tt.sc, "dump", in, tt.last, tt.dump)
			got := strings.Join(e, "\n")
			switch {
			case tt.want == "" && len(e) > 0:
				t.Errorf("unexpected errors:\n%s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("errors %q lack %q", got, tt.want)
			}
		})
	}
}
