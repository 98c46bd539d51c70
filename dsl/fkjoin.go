package dsl

import (
	"bytes"
	"fmt"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// DropNullForeignKey is the reason an inner foreign-key join counts a left
// value whose foreignKey function reports no foreign key (Kafka Streams
// drops and counts a null foreign key the same way): it joins nothing.
const DropNullForeignKey = "null-foreign-key"

// JoinByForeignKey joins each entry of left with the entry of right whose
// key foreignKey extracts from the left value (Kafka Streams' KIP-213
// KTable.join(other, foreignKeyExtractor, joiner)): left key k has a result
// while left has a value l for k, foreignKey(l) reports a foreign key fk
// (ok true) and right has a value r for fk; the result is joiner(l, r),
// keyed by k. The result table updates when either side changes:
//
//   - a left insert or update subscribes k to its foreign key and
//     produces joiner(l, r) once the right side answers;
//   - a left update that changes the foreign key unsubscribes k from the
//     old one and subscribes it to the new one: the old result is replaced
//     by the new (or retracted, when the new foreign key has no right
//     value);
//   - a left delete, or a left value without a foreign key, retracts k's
//     result (the latter is counted under DropNullForeignKey);
//   - a right update updates the result of every subscribed left key; a
//     right delete retracts them.
//
// A foreign key that foreignKey reports absent (ok false), or that the
// right table's key serde serializes to null, is "no foreign key" (Kafka
// Streams' null foreign key).
//
// How it runs, as in Kafka Streams: the left side sends each subscription
// (left key, a 128-bit murmur3 hash of the serialized left value, an
// instruction, the left key's partition) keyed by the foreign key through
// the internal topic <application-id>-<name>-subscription-registration-topic,
// partitioned as the right table's topic is (by the foreign key's bytes,
// with the producer's default partitioner). The right side keeps the
// subscriptions in a store keyed by (foreign key, left key), answers each
// subscription with the current right value, and answers every subscriber
// of a foreign key (found by a prefix scan) when its right value changes.
// Answers go back through <application-id>-<name>-subscription-response-topic
// to the left key's partition, where a response whose hash is not the hash
// of the current left value is stale (the left value changed since) and
// dropped; the others join with the current left value. Both topics are
// created by the App with the partition count of the sub-topology reading
// them (the right table's topics for the subscriptions, the left table's
// for the responses) and purged once committed, as repartition topics are.
// The left key, the foreign key and both tables' values therefore need
// serdes (the tables' own, else registered ones).
//
// Two choices differ from Kafka Streams, neither visible in the results:
// every subscription asks for a response, even when the right side has no
// value (Kafka Streams skips it when the foreign key is unchanged, which
// can leave a result stale when a right delete overtakes the
// subscription); and a left delete or a missing foreign key is resolved on
// the left side at once (an unsubscription is still sent) instead of
// round-tripping through the right side.
//
// The result is always materialized in a timestamped key-value store (As
// names it, else <name>-result-store when Named, else
// KTABLE-FK-JOIN-OUTPUT-STATE-STORE-0000000NNN): the old
// result of a change is what the store holds, so downstream operators see
// exact retractions, and no change is forwarded for a key whose result did
// not exist and still does not. With the cache on (the default) it
// forwards once per key per commit. A result's timestamp is that of the
// response that made it: the larger of the left update's and the right
// value's timestamps for a subscription's answer, the right update's for a
// right-side change, the left update's for a retraction.
//
// Both sides read each other as forwarded (the state under their caches):
// a right key inserted and deleted within one commit, which its cache
// compacts to no change, never answers a subscription, so no result of it
// is left unretracted.
//
// Options: Named (the internal topics <name>-subscription-registration-topic
// and <name>-subscription-response-topic, the subscription store
// <name>-subscription-store, the result processor <name>-result and the
// other nodes <name>-subscription-...; unnamed joins get Kafka Streams'
// generated names, KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000NNN-topic
// and so on), As, InMemory and WithoutLogging (the result store and the
// subscription store), WithoutCaching (the result store), ValueSerde (the
// result store's, or register one for VO).
func JoinByForeignKey[K, VL, KO, VR, VO any](left Table[K, VL], right Table[KO, VR], foreignKey func(value VL) (KO, bool),
	joiner func(l VL, r VR) VO, opts ...Option) Table[K, VO] {
	const op = "JoinByForeignKey"
	if left.b == nil || isNil(left.b, op, foreignKey) || isNil(left.b, op, joiner) {
		return Table[K, VO]{}
	}
	return fkJoin(left, right, foreignKey, func(l VL, r *VR) (VO, bool) {
		if r == nil {
			var zero VO
			return zero, false
		}
		return joiner(l, *r), true
	}, false, op, opts)
}

// LeftJoinByForeignKey is JoinByForeignKey keeping every entry of left
// (Kafka Streams' KTable.leftJoin by foreign key): left key k has a result
// while left has a value l for it, joiner(l, r) with r the right value of
// l's foreign key, or nil when there is none (no foreign key, or no right
// value for it). A right delete turns its subscribers' results into
// joiner(l, nil); a left delete retracts k's result.
func LeftJoinByForeignKey[K, VL, KO, VR, VO any](left Table[K, VL], right Table[KO, VR], foreignKey func(value VL) (KO, bool),
	joiner func(l VL, r *VR) VO, opts ...Option) Table[K, VO] {
	const op = "LeftJoinByForeignKey"
	if left.b == nil || isNil(left.b, op, foreignKey) || isNil(left.b, op, joiner) {
		return Table[K, VO]{}
	}
	return fkJoin(left, right, foreignKey, func(l VL, r *VR) (VO, bool) { return joiner(l, r), true }, true, op, opts)
}

// fkNames are the names of the join's nodes, stores and topics.
type fkNames struct {
	subTopic, send, local, subSink, subSource, subStore, receive, rightJoin string
	respTopic, respSink, respSource, result, resultStore                    string
}

// names returns the join's names: <name>-suffix when Named, else
// generated in Kafka Streams' order (KTableImpl.doJoinOnForeignKey).
func (b *Builder) fkNames(o *options) fkNames {
	if n := o.name; n != "" {
		resultStore := o.store
		if resultStore == "" {
			resultStore = n + "-result-store"
		}
		return fkNames{subTopic: n + "-subscription-registration-topic", send: n + "-subscription-registration-processor",
			local: n + "-subscription-registration-local", subSink: n + "-subscription-registration-sink",
			subSource: n + "-subscription-registration-source", subStore: n + "-subscription-store",
			receive: n + "-subscription-receive", rightJoin: n + "-foreign-join-subscription",
			respTopic: n + "-subscription-response-topic", respSink: n + "-subscription-response-sink",
			respSource: n + "-subscription-response-source", result: n + "-result", resultStore: resultStore}
	}
	const fk = "KTABLE-FK-JOIN-"
	var ns fkNames
	ns.subTopic = b.newName(fk+"SUBSCRIPTION-REGISTRATION-") + "-topic"
	ns.send = b.newName(fk + "SUBSCRIPTION-REGISTRATION-")
	ns.local = ns.send + "-local"
	ns.subSink = b.newName("KSTREAM-SINK-")
	ns.subSource = b.newName("KSTREAM-SOURCE-")
	ns.subStore = b.newName(fk + "SUBSCRIPTION-STATE-STORE-")
	ns.receive = b.newName(fk + "SUBSCRIPTION-PROCESSOR-")
	ns.rightJoin = b.newName(fk + "SUBSCRIPTION-PROCESSOR-")
	ns.respTopic = b.newName(fk+"SUBSCRIPTION-RESPONSE-") + "-topic"
	ns.respSink = b.newName("KSTREAM-SINK-")
	ns.respSource = b.newName("KSTREAM-SOURCE-")
	b.unnamed = append(b.unnamed, "topic "+ns.subTopic, "store "+ns.subStore, "topic "+ns.respTopic)
	ns.resultStore = b.storeName(o, fk+"OUTPUT-STATE-STORE-")
	ns.result = b.newName(fk + "OUTPUT-")
	return ns
}

// fkJoin declares the foreign-key join; join returns the result of a left
// value and a right value (nil: none), or false when there is none.
func fkJoin[K, VL, KO, VR, VO any](left Table[K, VL], right Table[KO, VR], foreignKey func(VL) (KO, bool),
	join func(VL, *VR) (VO, bool), leftJoin bool, op string, opts []Option) Table[K, VO] {
	b := left.b
	if !b.owns(op, right.b) {
		return Table[K, VO]{}
	}
	if left.get == nil || right.get == nil {
		b.problem(fmt.Errorf("%w: %s: a table handle without a value getter (the zero Table?)", ErrInvalidOperator, op))
		return Table[K, VO]{}
	}
	o := collect(opts)
	ns := b.fkNames(o)
	ks := serdeFor[K](b, nil, left.keys, op, "left keys")
	vls := serdeFor[VL](b, nil, left.values, op, "left values")
	kos := serdeFor[KO](b, nil, right.keys, op, "foreign keys")
	vrs := serdeFor[VR](b, nil, right.values, op, "right values")
	vos := serdeFor[VO](b, o.valueSerde, registered[VO](b), fmt.Sprintf("%s %q (store)", op, ns.resultStore), "values")
	if ks == nil || vls == nil || kos == nil || vrs == nil || vos == nil {
		return Table[K, VO]{}
	}
	subs := fkSubscriptionSerde[K]{keys: ks}
	rawSubs := fkSubscriptionSerde[[]byte]{keys: record.Bytes()}
	resps := fkResponseSerde[VR]{values: vrs}
	ext := fkExtractor[VL, KO]{fn: foreignKey, keys: kos}

	// Left side: subscriptions out, and the answers for deletes and missing
	// foreign keys made on the spot.
	processor.AddProcessor(b.pb, ns.send, func() processor.Processor[K, Change[VL], KO, fkSubscription[K]] {
		return &fkSend[K, VL, KO]{ext: ext, values: vls}
	}, left.node)
	processor.AddProcessor(b.pb, ns.local, func() processor.Processor[K, Change[VL], K, fkResponse[VR]] {
		return &fkLocal[K, VL, KO, VR]{ext: ext, values: vls, leftJoin: leftJoin}
	}, left.node)
	processor.AddSink(b.pb, ns.subSink, ns.subTopic, serializer[KO](kos), serializer[fkSubscription[K]](subs), ns.send)
	b.pb.AddInternalTopic(processor.InternalTopic{Name: ns.subTopic, Config: repartitionConfig, Purge: true})

	// Right side: the subscription store, the answers to subscriptions and
	// to right-side changes.
	processor.AddSource(b.pb, ns.subSource, deserializer[KO](kos), deserializer[fkSubscription[[]byte]](rawSubs), ns.subTopic).
		WithTimestampExtractor(record.FailOnInvalidTimestamp())
	processor.AddProcessor(b.pb, ns.receive, func() processor.Processor[KO, fkSubscription[[]byte], []byte, fkResponse[VR]] {
		return &fkReceive[KO, VR]{storeName: ns.subStore, keys: kos, right: right.get}
	}, ns.subSource).WithStores(right.getStores...)
	processor.AddProcessor(b.pb, ns.rightJoin, func() processor.Processor[KO, Change[VR], []byte, fkResponse[VR]] {
		return &fkRightChange[KO, VR]{storeName: ns.subStore, keys: kos}
	}, right.node)
	sb := store.NewKeyValueBuilder(o.keyValueBackend()(ns.subStore), record.Bytes(), record.Serde[fkStored](fkStoredSerde{}))
	if o.noLogging {
		sb.WithLoggingDisabled()
	}
	b.pb.AddStore(sb, ns.receive, ns.rightJoin)
	processor.AddSink(b.pb, ns.respSink, ns.respTopic, serializer(record.Bytes()), serializer[fkResponse[VR]](resps), ns.receive, ns.rightJoin).
		WithPartitioner(func(_ string, r record.Record[[]byte, fkResponse[VR]], n int32) (int32, bool) {
			// Back to the left key's task, however the left topic is
			// partitioned (Kafka Streams' primary partition).
			p := r.Value().partition
			return p, p >= 0 && p < n
		})
	b.pb.AddInternalTopic(processor.InternalTopic{Name: ns.respTopic, Config: repartitionConfig, Purge: true})

	// Left side again: responses checked against the current left value and
	// joined into the result store.
	processor.AddSource(b.pb, ns.respSource, deserializer[K](ks), deserializer[fkResponse[VR]](resps), ns.respTopic).
		WithTimestampExtractor(record.FailOnInvalidTimestamp())
	processor.AddProcessor(b.pb, ns.result, func() processor.Processor[K, fkResponse[VR], K, Change[VO]] {
		return &fkResult[K, VL, VR, VO]{storeName: ns.resultStore, left: left.get, values: vls, join: join}
	}, ns.respSource, ns.local).WithStores(left.getStores...)
	if rs := tableStore(ns.resultStore, o, ks, vos); rs != nil {
		b.pb.AddStore(rs, ns.result)
	}
	return Table[K, VO]{b: b, node: ns.result, keys: ks, values: vos, get: storeGetter[K, VO](ns.resultStore),
		getStores: []string{ns.resultStore}, store: ns.resultStore, topics: left.topics}
}

// fkExtractor extracts a left value's foreign key and its bytes.
type fkExtractor[VL, KO any] struct {
	fn   func(VL) (KO, bool)
	keys record.Serde[KO]
}

// extract returns v's foreign key and its serialized bytes (appended to
// buf), ok false when it has none (reported absent, or serialized to null).
func (e fkExtractor[VL, KO]) extract(buf []byte, v VL) (KO, []byte, bool, error) {
	fk, ok := e.fn(v)
	if !ok {
		return fk, buf, false, nil
	}
	out, err := e.keys.Serialize(buf, fk)
	if err != nil {
		return fk, buf, false, fmt.Errorf("foreign-key join: serializing the foreign key: %w", err)
	}
	return fk, out, out != nil, nil
}

// hashOf returns the hash of v's bytes as values serializes them; buf is
// scratch space, returned for reuse.
func hashOf[V any](values record.Serde[V], buf []byte, v V) (fkHash, []byte, error) {
	out, err := values.Serialize(buf[:0], v)
	if err != nil {
		return fkHash{}, buf, fmt.Errorf("foreign-key join: serializing the left value: %w", err)
	}
	if out != nil {
		buf = out
	}
	return hashValue(out), buf, nil
}

// fkSend is Kafka Streams' SubscriptionSendProcessor: for each left
// change, an unsubscription from the old foreign key when it differs from
// the new one, and a subscription to the new one.
type fkSend[K, VL, KO any] struct {
	ext          fkExtractor[VL, KO]
	values       record.Serde[VL]
	ctx          processor.Context[KO, fkSubscription[K]]
	oldB, newB   []byte
	hashBuf      []byte
	partitionNum int32
}

func (p *fkSend[K, VL, KO]) Init(ctx processor.Context[KO, fkSubscription[K]]) error {
	p.ctx = ctx
	p.partitionNum = ctx.TaskID().Partition
	return nil
}

func (p *fkSend[K, VL, KO]) Process(r record.Record[K, Change[VL]]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		dropNulls(p.ctx, r)
		return nil
	}
	c := r.Value()
	var oldFK, newFK KO
	var oldOK, newOK bool
	var err error
	if c.HasOld {
		if oldFK, p.oldB, oldOK, err = p.ext.extract(p.oldB[:0], c.Old); err != nil {
			return err
		}
	}
	if c.HasNew {
		if newFK, p.newB, newOK, err = p.ext.extract(p.newB[:0], c.New); err != nil {
			return err
		}
	}
	if oldOK && (!newOK || !bytes.Equal(p.oldB, p.newB)) {
		// The new subscription (if any) may go to another partition: the
		// old one must be deleted explicitly.
		sub := fkSubscription[K]{instruction: fkUnsubscribe, partition: p.partitionNum, key: r.Key()}
		if err := p.ctx.Forward(record.WithValue(record.WithKey(r, oldFK), sub)); err != nil {
			return err
		}
	}
	if !newOK {
		return nil
	}
	var h fkHash
	if h, p.hashBuf, err = hashOf(p.values, p.hashBuf, c.New); err != nil {
		return err
	}
	sub := fkSubscription[K]{instruction: fkSubscribe, hash: h, partition: p.partitionNum, key: r.Key()}
	return p.ctx.Forward(record.WithValue(record.WithKey(r, newFK), sub))
}

func (p *fkSend[K, VL, KO]) Close() error { return nil }

// fkLocal answers, on the left side, the changes no right value can join:
// a left delete (a response without hash: it matches the absent value)
// and a left value without a foreign key (a response without right value
// for the new value's hash). Both go straight to the result processor.
type fkLocal[K, VL, KO, VR any] struct {
	ext      fkExtractor[VL, KO]
	values   record.Serde[VL]
	leftJoin bool
	ctx      processor.Context[K, fkResponse[VR]]
	buf      []byte
}

func (p *fkLocal[K, VL, KO, VR]) Init(ctx processor.Context[K, fkResponse[VR]]) error {
	p.ctx = ctx
	return nil
}

func (p *fkLocal[K, VL, KO, VR]) Process(r record.Record[K, Change[VL]]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		return nil // counted by fkSend
	}
	c := r.Value()
	if !c.HasNew {
		if !c.HasOld {
			return nil
		}
		return p.ctx.Forward(record.WithValue(r, fkResponse[VR]{}))
	}
	_, out, ok, err := p.ext.extract(p.buf[:0], c.New)
	if out != nil {
		p.buf = out
	}
	if err != nil || ok {
		return err
	}
	if !p.leftJoin {
		p.ctx.Dropped(DropNullForeignKey)
		md, _ := p.ctx.RecordMetadata()
		p.ctx.Logger().Debug("foreign-key join: left value without a foreign key", zap.String("reason", DropNullForeignKey),
			zap.Stringer("record", md))
	}
	h, buf, err := hashOf(p.values, p.buf, c.New)
	p.buf = buf
	if err != nil {
		return err
	}
	return p.ctx.Forward(record.WithValue(r, fkResponse[VR]{hash: h, hasHash: true}))
}

func (p *fkLocal[K, VL, KO, VR]) Close() error { return nil }

// fkReceive is Kafka Streams' SubscriptionReceiveProcessor and
// SubscriptionJoinProcessor in one: it writes (or deletes) the
// subscription in the store keyed by (foreign key, left key) and answers a
// subscription with the foreign key's current right value, present or not.
type fkReceive[KO, VR any] struct {
	storeName string
	keys      record.Serde[KO]
	right     getterSupplier[KO, VR]
	get       valueGetter[KO, VR]
	s         store.KeyValueStore[[]byte, fkStored]
	ctx       processor.Context[[]byte, fkResponse[VR]]
	buf       []byte
}

func (p *fkReceive[KO, VR]) Init(ctx processor.Context[[]byte, fkResponse[VR]]) error {
	p.ctx = ctx
	s, err := processor.KeyValueStore[[]byte, fkStored](ctx, p.storeName)
	if err != nil {
		return err
	}
	p.s = s
	get, err := p.right(ctx, true) // as forwarded: see getterSupplier
	if err != nil {
		return err
	}
	p.get = get
	return nil
}

func (p *fkReceive[KO, VR]) Process(r record.Record[KO, fkSubscription[[]byte]]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		dropNulls(p.ctx, r)
		return nil
	}
	sub := r.Value()
	fk, err := p.keys.Serialize(p.buf[:0], r.Key())
	if err != nil {
		return fmt.Errorf("foreign-key join: serializing the foreign key: %w", err)
	}
	if fk == nil {
		p.ctx.Dropped(DropNullForeignKey)
		return nil
	}
	key := append(fkPrefix(fk[len(fk):], fk), sub.key...)
	p.buf = key[:0]
	if sub.instruction == fkUnsubscribe {
		_, _, err := p.s.Delete(key)
		return err
	}
	if err := p.s.Put(key, fkStored{hash: sub.hash, partition: sub.partition}); err != nil {
		return err
	}
	v, ts, found, err := p.get(r.Key())
	if err != nil {
		return err
	}
	resp := fkResponse[VR]{hash: sub.hash, hasHash: true, partition: sub.partition}
	out := record.WithValue(record.WithKey(r, sub.key), resp)
	if found {
		resp.value, resp.hasValue = v, true
		out = record.WithValue(out, resp)
		if ts > r.Timestamp() {
			if out, err = out.WithTimestamp(ts); err != nil {
				return err
			}
		}
	}
	return p.ctx.Forward(out)
}

func (p *fkReceive[KO, VR]) Close() error { return nil }

// fkRightChange is Kafka Streams' ForeignTableJoinProcessor: a right-side
// change is sent to every left key subscribed to its key, found by a
// prefix scan of the subscription store.
type fkRightChange[KO, VR any] struct {
	storeName string
	keys      record.Serde[KO]
	s         store.KeyValueStore[[]byte, fkStored]
	ctx       processor.Context[[]byte, fkResponse[VR]]
	buf       []byte
}

func (p *fkRightChange[KO, VR]) Init(ctx processor.Context[[]byte, fkResponse[VR]]) error {
	p.ctx = ctx
	s, err := processor.KeyValueStore[[]byte, fkStored](ctx, p.storeName)
	if err != nil {
		return err
	}
	p.s = s
	return nil
}

func (p *fkRightChange[KO, VR]) Process(r record.Record[KO, Change[VR]]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		dropNulls(p.ctx, r)
		return nil
	}
	fk, err := p.keys.Serialize(p.buf[:0], r.Key())
	if err != nil {
		return fmt.Errorf("foreign-key join: serializing the right key: %w", err)
	}
	if fk == nil {
		return nil // no left value can have subscribed to a null key
	}
	prefix := fkPrefix(fk[len(fk):], fk)
	p.buf = prefix[:0]
	it, err := p.s.PrefixScan(prefix)
	if err != nil {
		return err
	}
	defer it.Close()
	c := r.Value()
	for it.Next() {
		leftKey, ok := fkLeftKey(it.Key())
		if !ok {
			return fmt.Errorf("foreign-key join: malformed subscription store key %x", it.Key())
		}
		sub := it.Value()
		resp := fkResponse[VR]{hash: sub.hash, hasHash: true, partition: sub.partition, value: c.New, hasValue: c.HasNew}
		if err := p.ctx.Forward(record.WithValue(record.WithKey(r, leftKey), resp)); err != nil {
			return err
		}
	}
	return it.Err()
}

func (p *fkRightChange[KO, VR]) Close() error { return nil }

// fkResult is Kafka Streams' ResponseJoinProcessor and the result's
// KTableSource in one: a response whose hash is not that of the current
// left value is stale and dropped; the others join the current left value
// with the response's right value into the result store, forwarding the
// change (on the cache's flush when the store is cached).
type fkResult[K, VL, VR, VO any] struct {
	storeName string
	left      getterSupplier[K, VL]
	values    record.Serde[VL]
	join      func(VL, *VR) (VO, bool)
	get       valueGetter[K, VL]
	s         store.KeyValueStore[K, store.ValueAndTimestamp[VO]]
	ctx       processor.Context[K, Change[VO]]
	cached    bool
	buf       []byte
}

// DropStaleForeignKeyResponse is the reason (logged at debug, not counted
// as a drop: it is the join working) a foreign-key join response is
// discarded: the left value changed after the subscription it answers.
const DropStaleForeignKeyResponse = "stale-foreign-key-response"

func (p *fkResult[K, VL, VR, VO]) Init(ctx processor.Context[K, Change[VO]]) error {
	p.ctx = ctx
	get, err := p.left(ctx, true) // as forwarded: the value whose subscription was sent
	if err != nil {
		return err
	}
	p.get = get
	s, err := processor.KeyValueStore[K, store.ValueAndTimestamp[VO]](ctx, p.storeName)
	if err != nil {
		return err
	}
	p.s = s
	return listenForChanges(ctx, s, &p.cached)
}

func (p *fkResult[K, VL, VR, VO]) Process(r record.Record[K, fkResponse[VR]]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		dropNulls(p.ctx, r)
		return nil
	}
	resp := r.Value()
	l, _, found, err := p.get(r.Key())
	if err != nil {
		return err
	}
	if found != resp.hasHash {
		p.stale()
		return nil
	}
	var result VO
	has := false
	if found {
		var h fkHash
		if h, p.buf, err = hashOf(p.values, p.buf, l); err != nil {
			return err
		}
		if h != resp.hash {
			p.stale()
			return nil
		}
		var rv *VR
		if resp.hasValue {
			rv = &resp.value
		}
		result, has = p.join(l, rv)
	}
	old, hadOld, err := p.s.Get(r.Key())
	if err != nil {
		return err
	}
	var ov, nv *store.ValueAndTimestamp[VO]
	if hadOld {
		ov = &old
	}
	switch {
	case has:
		nv = &store.ValueAndTimestamp[VO]{Value: result, Timestamp: r.Timestamp()}
		if err := p.s.Put(r.Key(), *nv); err != nil {
			return err
		}
	case hadOld:
		if _, _, err := p.s.Delete(r.Key()); err != nil {
			return err
		}
	default:
		return nil // no result before, none now
	}
	if p.cached {
		return nil
	}
	return forwardChangeOf(p.ctx, r, nv, ov, r.Timestamp())
}

func (p *fkResult[K, VL, VR, VO]) stale() {
	md, _ := p.ctx.RecordMetadata()
	p.ctx.Logger().Debug("foreign-key join: dropping a stale response", zap.String("reason", DropStaleForeignKeyResponse),
		zap.Stringer("record", md))
}

func (p *fkResult[K, VL, VR, VO]) Close() error { return nil }
