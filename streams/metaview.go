package streams

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
)

// The claims of the instance-metadata topic (instancemeta.go) and what an
// instance makes of them: for each task and store partition, the claim
// written last wins.

// claimVersion is the version of the claims this code writes; readers
// take any version's fields they know.
const claimVersion = 1

// claim is one instance's announcement, the value of its record on the
// metadata topic (JSON, so operators can read the topic).
type claim struct {
	Version int `json:"v"`
	// Endpoint is the instance's ApplicationServer (also the record key).
	Endpoint string `json:"endpoint"`
	// Run is random per Run of the App: it tells this run's claims from
	// an earlier run's under the same endpoint.
	Run string `json:"run"`
	// Seq counts the run's assignments from 1: the assignment the claim
	// describes.
	Seq int64 `json:"seq"`
	// Tasks are the active tasks assigned.
	Tasks []string `json:"tasks"`
	// Stores maps each store of those tasks to the partitions held.
	Stores map[string][]int32 `json:"stores"`
	// TimeMs is the wall-clock time of the announcement, for operators.
	TimeMs int64 `json:"time_ms"`
}

// pendingOffset is the offset of this instance's latest claim until the
// reader sees it on the topic: nothing written before it is newer.
const pendingOffset = math.MaxInt64

// heldClaim is an instance's current claim and where it is on the topic.
type heldClaim struct {
	c      claim
	host   HostInfo
	offset int64
}

// metaView is what an instance knows of the others: the latest claim of
// each endpoint, and whether it has read the topic up to where it ended
// when the App started. Safe for concurrent use.
type metaView struct {
	self   string // this instance's endpoint
	run    string
	logger *zap.Logger

	mu       sync.Mutex
	caughtUp bool
	failed   error // the reader stopped for good
	claims   map[string]heldClaim
	// own is this run's latest claim, and ownOffset its offset once read
	// back (pendingOffset until then).
	own       *claim
	ownOffset int64
	warned    bool
}

func newMetaView(self, run string, logger *zap.Logger) *metaView {
	return &metaView{self: self, run: run, logger: logger, claims: map[string]heldClaim{}}
}

// announce makes this instance's new claim current at once, before the
// topic has it.
func (v *metaView) announce(c claim) {
	h, _ := parseHostInfo(c.Endpoint)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.own, v.ownOffset = &c, pendingOffset
	v.claims[v.self] = heldClaim{c: c, host: h, offset: pendingOffset}
}

// apply takes one record of the topic, read at offset.
func (v *metaView) apply(offset int64, key, value []byte) {
	endpoint := string(key)
	var c claim
	tombstone := value == nil
	if !tombstone {
		if err := json.Unmarshal(value, &c); err != nil {
			v.logger.Warn("ignoring an unreadable instance-metadata record; the instance it names is forgotten until it announces again",
				zap.String("endpoint", endpoint), zap.Int64("offset", offset), zap.Error(err))
			tombstone = true
		}
	}
	h, err := parseHostInfo(endpoint)
	if err != nil && !tombstone {
		v.logger.Warn("ignoring an instance-metadata record whose key is not an endpoint", zap.Int64("offset", offset), zap.Error(err))
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if endpoint == v.self && v.own != nil {
		switch {
		case !tombstone && c.Run == v.run:
			if c.Seq == v.own.Seq {
				v.ownOffset = offset
				v.claims[v.self] = heldClaim{c: *v.own, host: h, offset: offset}
			}
			return // an older assignment of this run otherwise
		case v.ownOffset == pendingOffset || offset < v.ownOffset:
			return // an earlier run's, written before this run's claim
		}
		if !v.warned {
			v.warned = true
			v.logger.Warn("another instance announces this instance's ApplicationServer: every instance needs an endpoint of its own, "+
				"or lookups send queries to the wrong one", zap.String("application_server", v.self), zap.Int64("offset", offset))
		}
	}
	if tombstone {
		delete(v.claims, endpoint)
		return
	}
	c.Endpoint = endpoint
	v.claims[endpoint] = heldClaim{c: c, host: h, offset: offset}
}

// setCaughtUp records that the topic was read up to its end at start.
func (v *metaView) setCaughtUp() {
	v.mu.Lock()
	v.caughtUp = true
	v.mu.Unlock()
}

func (v *metaView) setFailed(err error) {
	v.mu.Lock()
	v.failed = err
	v.mu.Unlock()
}

// ready says why lookups cannot be answered yet ("" when they can).
func (v *metaView) ready() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.failed != nil:
		return fmt.Sprintf("reading the instance-metadata topic failed (%v)", v.failed)
	case !v.caughtUp:
		return "this instance is still reading the instance-metadata topic"
	}
	return ""
}

// owner returns the instance whose claim on partition p of store won.
func (v *metaView) owner(store string, p int32) (HostInfo, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	best := int64(-1)
	var h HostInfo
	for _, hc := range v.claims {
		if hc.offset > best && slices.Contains(hc.c.Stores[store], p) {
			best, h = hc.offset, hc.host
		}
	}
	return h, best >= 0
}

// instances returns every instance that holds a task after resolution,
// and every one whose claim is empty (an idle member), sorted by
// endpoint. An instance that claimed tasks and lost them all to later
// claims is gone, or about to announce again: it is left out.
func (v *metaView) instances(topo *processor.Topology) []InstanceMetadata {
	v.mu.Lock()
	defer v.mu.Unlock()
	winner := map[string]string{} // task -> endpoint
	best := map[string]int64{}
	storeWinner := map[string]map[int32]string{}
	storeBest := map[string]map[int32]int64{}
	for ep, hc := range v.claims {
		for _, t := range hc.c.Tasks {
			if o, ok := best[t]; !ok || hc.offset > o {
				best[t], winner[t] = hc.offset, ep
			}
		}
		for s, ps := range hc.c.Stores {
			if storeWinner[s] == nil {
				storeWinner[s], storeBest[s] = map[int32]string{}, map[int32]int64{}
			}
			for _, p := range ps {
				if o, ok := storeBest[s][p]; !ok || hc.offset > o {
					storeBest[s][p], storeWinner[s][p] = hc.offset, ep
				}
			}
		}
	}
	var globals []string
	for _, g := range topo.GlobalStores() {
		globals = append(globals, g.Name)
	}
	var out []InstanceMetadata
	for ep, hc := range v.claims {
		md := InstanceMetadata{Host: hc.host}
		for _, t := range hc.c.Tasks {
			if winner[t] != ep {
				continue
			}
			if id, err := processor.ParseTaskID(t); err == nil {
				md.Tasks = append(md.Tasks, id)
			}
		}
		for s, ps := range hc.c.Stores {
			for _, p := range ps {
				if storeWinner[s][p] == ep {
					md.Stores = append(md.Stores, s)
					break
				}
			}
		}
		if len(md.Tasks) == 0 && len(hc.c.Tasks) > 0 {
			continue
		}
		slices.SortFunc(md.Tasks, processor.TaskID.Compare)
		md.Stores = append(md.Stores, globals...)
		slices.Sort(md.Stores)
		md.Stores = slices.Compact(md.Stores)
		out = append(out, md)
	}
	slices.SortFunc(out, func(a, b InstanceMetadata) int {
		if a.Host.Host != b.Host.Host {
			if a.Host.Host < b.Host.Host {
				return -1
			}
			return 1
		}
		return a.Host.Port - b.Host.Port
	})
	return out
}
