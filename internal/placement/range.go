package placement

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Member is a group member as the range assignor orders it: Key is its
// group.instance.id when every member of the group has one, else its member
// id (see Keys).
type Member struct {
	Key string
}

// String returns the member's key.
func (m Member) String() string { return m.Key }

// Assignment maps each member to the partitions it owns, ascending. Every
// member of the group has an entry, empty when it owns nothing.
type Assignment map[Member][]int32

// All, given as k to Standbys, asks for a standby of every partition the
// member does not own.
const All = -1

// Group is a consumer group's membership, sorted by key, with the partition
// count P shared by its co-partitioned topics. The zero Group has no members
// and no partitions. A Group is immutable: With and Without return new ones.
type Group struct {
	members    []Member // ascending by Key, distinct, non-empty keys
	partitions int32
}

// NewGroup returns the group of members (in any order) over partitions
// partitions. It refuses an empty or duplicate key and a partition count
// outside 0..2^31-1.
func NewGroup(members []Member, partitions int) (Group, error) {
	if partitions < 0 || partitions > math.MaxInt32 {
		return Group{}, fmt.Errorf("placement: partition count %d is outside 0..%d", partitions, math.MaxInt32)
	}
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b Member) int { return strings.Compare(a.Key, b.Key) })
	for i, m := range sorted {
		if m.Key == "" {
			return Group{}, fmt.Errorf("placement: a member has an empty key")
		}
		if i > 0 && sorted[i-1].Key == m.Key {
			return Group{}, fmt.Errorf("placement: member key %q appears more than once", m.Key)
		}
	}
	return Group{members: sorted, partitions: int32(partitions)}, nil
}

// Range returns the range assignment of partitions partitions over members
// (in any order): NewGroup(members, partitions).Assignment().
func Range(members []Member, partitions int) (Assignment, error) {
	g, err := NewGroup(members, partitions)
	if err != nil {
		return nil, err
	}
	return g.Assignment(), nil
}

// Members returns the members in the assignor's order.
func (g Group) Members() []Member { return slices.Clone(g.members) }

// Partitions returns the partition count P.
func (g Group) Partitions() int { return int(g.partitions) }

// Assignment returns every member's partitions. A group without members
// has an empty assignment.
func (g Group) Assignment() Assignment {
	a := make(Assignment, len(g.members))
	for i, m := range g.members {
		lo, hi := g.block(i)
		ps := make([]int32, 0, hi-lo)
		for p := lo; p < hi; p++ {
			ps = append(ps, p)
		}
		a[m] = ps
	}
	return a
}

// Owner returns the member that owns partition p.
func (g Group) Owner(p int32) (Member, error) {
	if err := g.check(p); err != nil {
		return Member{}, err
	}
	return g.members[g.ownerIndex(p)], nil
}

// Owns returns the partitions m owns, ascending; none if m is not a member.
func (g Group) Owns(m Member) []int32 {
	i, ok := g.index(m)
	if !ok {
		return nil
	}
	lo, hi := g.block(i)
	ps := make([]int32, 0, hi-lo)
	for p := lo; p < hi; p++ {
		ps = append(ps, p)
	}
	return ps
}

// Successor returns the member that owns p once owner(p) has left the
// group: the owner of p in the range assignment of the other members. ok is
// false when owner(p) is the only member.
func (g Group) Successor(p int32) (succ Member, ok bool, err error) {
	if err := g.check(p); err != nil {
		return Member{}, false, err
	}
	if len(g.members) == 1 {
		return Member{}, false, nil
	}
	return g.members[g.ownerWithout(g.ownerIndex(p), p)], true, nil
}

// Neighbours returns the members adjacent to owner(p) in the assignor's
// order, in that order: the one before and the one after it, or, at either
// end of the order, the two nearest. A group of two has one neighbour, a
// group of one none.
func (g Group) Neighbours(p int32) ([]Member, error) {
	if err := g.check(p); err != nil {
		return nil, err
	}
	n, i := len(g.members), g.ownerIndex(p)
	var idx []int
	switch {
	case n == 1:
	case n == 2:
		idx = []int{1 - i}
	case i == 0:
		idx = []int{1, 2}
	case i == n-1:
		idx = []int{n - 3, n - 2}
	default:
		idx = []int{i - 1, i + 1}
	}
	out := make([]Member, len(idx))
	for j, k := range idx {
		out[j] = g.members[k]
	}
	return out, nil
}

// Standbys returns the partitions, ascending, that self keeps a standby copy
// of with k standbys per task: k=0 none; k=1 those whose Successor is self,
// which covers every single departure; k=2 those that have self among their
// Neighbours, which also covers every partition a single join moves between
// members already in the group; k=All every partition self does not own.
// self must be a member; other values of k are refused.
func (g Group) Standbys(self Member, k int) ([]int32, error) {
	si, ok := g.index(self)
	if !ok {
		return nil, fmt.Errorf("placement: standbys of %q: not a member of the group", self.Key)
	}
	var out []int32
	switch k {
	case 0:
	case 1:
		if len(g.members) == 1 {
			return nil, nil
		}
		for p := int32(0); p < g.partitions; p++ {
			if g.ownerWithout(g.ownerIndex(p), p) == si {
				out = append(out, p)
			}
		}
	case 2:
		for p := int32(0); p < g.partitions; p++ {
			neighbours, _ := g.Neighbours(p) // p is in range
			if slices.Contains(neighbours, self) {
				out = append(out, p)
			}
		}
	case All:
		for p := int32(0); p < g.partitions; p++ {
			if g.ownerIndex(p) != si {
				out = append(out, p)
			}
		}
	default:
		return nil, fmt.Errorf("placement: %d standbys per task: only 0, 1, 2 and All (-1) are placed", k)
	}
	return out, nil
}

// With returns the group with m added; the same group if m is already a
// member.
func (g Group) With(m Member) (Group, error) {
	if _, ok := g.index(m); ok {
		return g, nil
	}
	return NewGroup(append(slices.Clone(g.members), m), int(g.partitions))
}

// Without returns the group with m removed; the same group if m is not a
// member.
func (g Group) Without(m Member) Group {
	i, ok := g.index(m)
	if !ok {
		return g
	}
	return Group{members: slices.Delete(slices.Clone(g.members), i, i+1), partitions: g.partitions}
}

// OwnedAfterJoin returns the partitions self will own once it has joined
// the group (the range assignment of the members and self), so it can warm
// their state before it subscribes. If self is already a member, it is what
// self owns now.
func (g Group) OwnedAfterJoin(self Member) ([]int32, error) {
	joined, err := g.With(self)
	if err != nil {
		return nil, fmt.Errorf("placement: join of %q: %w", self.Key, err)
	}
	return joined.Owns(self), nil
}

// check refuses a partition outside the group's range, and any partition of
// a group without members.
func (g Group) check(p int32) error {
	if len(g.members) == 0 {
		return fmt.Errorf("placement: partition %d has no owner: the group has no members", p)
	}
	if p < 0 || p >= g.partitions {
		return fmt.Errorf("placement: partition %d is outside 0..%d", p, g.partitions-1)
	}
	return nil
}

// index returns m's position in the order.
func (g Group) index(m Member) (int, bool) {
	return slices.BinarySearchFunc(g.members, m, func(a, b Member) int { return strings.Compare(a.Key, b.Key) })
}

// block returns the half-open partition range [lo, hi) of the member at
// position i.
func (g Group) block(i int) (lo, hi int32) {
	return rangeBlock(len(g.members), g.partitions, i)
}

// ownerIndex returns the position of p's owner; p is in range and the group
// has members.
func (g Group) ownerIndex(p int32) int {
	return rangeOwner(len(g.members), g.partitions, p)
}

// ownerWithout returns the position, in g's order, of p's owner in the
// range assignment of every member but the one at position gone; the group
// has at least two members.
func (g Group) ownerWithout(gone int, p int32) int {
	j := rangeOwner(len(g.members)-1, g.partitions, p)
	if j >= gone {
		j++
	}
	return j
}

// rangeBlock returns the partitions [lo, hi) of position i among n members
// (n > 0) over p partitions: contiguous blocks, the first p%n one longer.
// The arithmetic is in 64 bits so no partition count overflows it.
func rangeBlock(n int, p int32, i int) (lo, hi int32) {
	q, r, ii := int64(p)/int64(n), int64(p)%int64(n), int64(i)
	l := q*ii + min(ii, r)
	h := l + q
	if ii < r {
		h++
	}
	return int32(l), int32(h)
}

// rangeOwner returns the position owning partition part among n members
// (n > 0) over p partitions (0 <= part < p).
func rangeOwner(n int, p, part int32) int {
	q, r, x := int64(p)/int64(n), int64(p)%int64(n), int64(part)
	long := r * (q + 1) // the partitions of the r longer blocks
	if x < long {
		return int(x / (q + 1))
	}
	return int(r + (x-long)/q) // q > 0: when q == 0, long == p > x
}
