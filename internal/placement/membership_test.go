package placement

import (
	"slices"
	"strings"
	"testing"
)

func TestKeysAreInstanceIDsWhenAllStaticMemberIDsWhenNoneAndUnpredictableForAMix(t *testing.T) {
	for _, tc := range []struct {
		name        string
		described   []Described
		want        []string
		predictable bool
	}{
		{"all static", []Described{
			{InstanceID: "s-2", MemberID: "s-2-9f", ClientID: "c"},
			{InstanceID: "s-0", MemberID: "s-0-11", ClientID: "c"},
			{InstanceID: "s-1", MemberID: "s-1-03", ClientID: "c"},
		}, []string{"s-0", "s-1", "s-2"}, true},
		{"all dynamic", []Described{
			{MemberID: "c-m1-aa", ClientID: "c-m1"},
			{MemberID: "c-m0-ff", ClientID: "c-m0"},
		}, []string{"c-m0-ff", "c-m1-aa"}, true},
		{"mix", []Described{
			{InstanceID: "z", MemberID: "z-1"},
			{MemberID: "a-2"},
		}, []string{"a-2", "z-1"}, false},
		{"none", nil, []string{}, true},
	} {
		got, predictable, err := Keys(tc.described)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		keys := []string{}
		for _, m := range got {
			keys = append(keys, m.Key)
		}
		if !slices.Equal(keys, tc.want) || predictable != tc.predictable {
			t.Errorf("%s: keys %v predictable %v, want %v %v", tc.name, keys, predictable, tc.want, tc.predictable)
		}
	}
}

func TestKeysRefuseDuplicateAndMissingIdentities(t *testing.T) {
	for _, tc := range []struct {
		described []Described
		says      string
	}{
		{[]Described{{InstanceID: "a", MemberID: "a-1"}, {InstanceID: "a", MemberID: "a-2"}}, `instance id "a" is described for more than one member`},
		{[]Described{{MemberID: "m"}, {MemberID: "m"}}, `member id "m"`},
		{[]Described{{MemberID: "m"}, {ClientID: "lost"}}, `client id "lost" has no member id`},
	} {
		if _, _, err := Keys(tc.described); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Keys(%v) = %v, want an error saying %q", tc.described, err, tc.says)
		}
	}
	m := Membership{Group: "app", Members: []Described{{MemberID: "m"}, {MemberID: "m"}}}
	if _, _, err := m.Keys(); err == nil || !strings.Contains(err.Error(), `group "app"`) {
		t.Errorf("Membership.Keys error %v does not name the group", err)
	}
}

func TestStateAndProtocolNamesAreKafkas(t *testing.T) {
	for s, want := range map[State]string{
		StateUnknown: "Unknown", StatePreparingRebalance: "PreparingRebalance", StateCompletingRebalance: "CompletingRebalance",
		StateStable: "Stable", StateDead: "Dead", StateEmpty: "Empty", State(99): "Unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d) = %q, want %q", s, got, want)
		}
	}
	for p, want := range map[Protocol]string{ProtocolUnknown: "unknown", ProtocolClassic: "classic", ProtocolConsumer: "consumer"} {
		if got := p.String(); got != want {
			t.Errorf("Protocol(%d) = %q, want %q", p, got, want)
		}
	}
}
