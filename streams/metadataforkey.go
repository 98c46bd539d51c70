package streams

import (
	"errors"
	"fmt"
	"github.com/millrace/millrace/internal/murmur2"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// Errors of the instance-metadata functions (MetadataForKey,
// MetadataForStore, AllMetadata), besides ErrUnknownStore and
// ErrAppNotRunning.
var (
	// ErrNoApplicationServer: the App has no Config.ApplicationServer, so
	// it neither announces itself nor learns where the others are.
	ErrNoApplicationServer = errors.New("streams: no ApplicationServer configured")
	// ErrMetadataNotReady: where a store's partition is, or who the
	// instances are, is not known yet: this instance has not read the
	// instance-metadata topic up to its end since it started, or no
	// instance has announced the partition yet (the group is forming).
	// Retry (Kafka Streams answers KeyQueryMetadata.NOT_AVAILABLE).
	ErrMetadataNotReady = errors.New("streams: instance metadata not known yet")
)

// metaErr makes an instance-metadata error wrapping why.
func metaErr(why error, format string, args ...any) error {
	return &queryError{msg: "streams: " + fmt.Sprintf(format, args...), why: []error{why}}
}

// KeyQueryMetadata says which instance holds a key of a store (Kafka
// Streams' KeyQueryMetadata).
type KeyQueryMetadata struct {
	// Active is the instance holding the key's partition: query it there
	// (with StorePartition(Partition) to hear "not ready" rather than
	// "absent" while it restores).
	Active HostInfo
	// Standbys are the instances holding standby replicas: always empty,
	// Millrace runs no standby replicas yet.
	Standbys []HostInfo
	// Partition is the key's partition in the store's sub-topology (the
	// task holding it is <sub-topology>_<Partition>); -1 for a global
	// store, which every instance holds whole.
	Partition int32
}

// InstanceMetadata describes one instance of the application (Kafka
// Streams' StreamsMetadata).
type InstanceMetadata struct {
	// Host is its ApplicationServer.
	Host HostInfo
	// Tasks are the active tasks it holds, sorted; task x_p reads
	// partition p of every source topic of sub-topology x.
	Tasks []processor.TaskID
	// Stores are the names of the stores of those tasks, and of every
	// global store, sorted.
	Stores []string
}

// MetadataForKey returns which instance holds key of the named store:
// the instance whose tasks include the key's partition of the store's
// sub-topology, as last announced (see the package doc for how current
// that is). The partition is the one the producer's default partitioner
// gives the key serialized with keys (murmur2 of the bytes, positive,
// modulo the partition count: Kafka's Java clients and librdkafka's
// murmur2 partitioners, which the App's sinks use); for an input
// partitioned another way use MetadataForKeyWithPartitioner. A global
// store is held by every instance: the answer is this one, partition -1.
//
// Errors: ErrNoApplicationServer, ErrUnknownStore, ErrAppNotRunning, an
// unserializable or null key, and ErrMetadataNotReady (retry).
func MetadataForKey[K any](a *App, storeName string, key K, keys record.Serializer[K]) (KeyQueryMetadata, error) {
	if keys == nil {
		return KeyQueryMetadata{}, fmt.Errorf("streams: MetadataForKey of store %q: nil key serializer", storeName)
	}
	return metadataForKey(a, storeName, func(n int32) (int32, error) {
		b, err := serializeKey(keys, key)
		if err != nil {
			return 0, fmt.Errorf("streams: MetadataForKey of store %q: %w", storeName, err)
		}
		return defaultPartition(b, n), nil
	})
}

// MetadataForKeyWithPartitioner is MetadataForKey for a store whose input
// is partitioned by partition (as a sink's processor.Partitioner or
// another producer placed the records): it returns the key's partition
// among numPartitions.
func MetadataForKeyWithPartitioner[K any](a *App, storeName string, key K, partition func(key K, numPartitions int32) int32) (KeyQueryMetadata, error) {
	if partition == nil {
		return KeyQueryMetadata{}, fmt.Errorf("streams: MetadataForKeyWithPartitioner of store %q: nil partitioner", storeName)
	}
	return metadataForKey(a, storeName, func(n int32) (p int32, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("streams: the partitioner given for store %q panicked: %v", storeName, r)
			}
		}()
		p = partition(key, n)
		if p < 0 || p >= n {
			return 0, fmt.Errorf("streams: the partitioner given for store %q returned partition %d; the store has partitions 0 to %d",
				storeName, p, n-1)
		}
		return p, nil
	})
}

// serializeKey serializes a key for partitioning; a panicking serializer
// or a null key is an error.
func serializeKey[K any](keys record.Serializer[K], key K) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the key serializer panicked: %v", r)
		}
	}()
	b, err = keys.Serialize(make([]byte, 0, 64), key)
	if err != nil {
		return nil, fmt.Errorf("serialize key: %w", err)
	}
	if b == nil {
		return nil, errors.New("the key serializes to null, which has no partition")
	}
	return b, nil
}

func metadataForKey(a *App, storeName string, partition func(numPartitions int32) (int32, error)) (KeyQueryMetadata, error) {
	if err := a.metadataUsable(fmt.Sprintf("which instance holds a key of store %q", storeName)); err != nil {
		return KeyQueryMetadata{}, err
	}
	shape, why, ok := a.shapeOf(storeName)
	if !ok {
		return KeyQueryMetadata{}, metaErr(ErrUnknownStore, "%s", why)
	}
	if why, ok := a.notQueryable(); !ok {
		return KeyQueryMetadata{}, metaErr(ErrAppNotRunning, "cannot tell which instance holds a key of store %q: %s", storeName, why)
	}
	if shape.global {
		return KeyQueryMetadata{Active: a.HostInfo(), Partition: -1}, nil
	}
	a.iq.mu.Lock()
	n, known := a.iq.subParts[shape.sub]
	m := a.iq.meta
	a.iq.mu.Unlock()
	if !known || m == nil {
		return KeyQueryMetadata{}, metaErr(ErrAppNotRunning, "the metadata of store %q is not known: the App is stopping", storeName)
	}
	if n <= 0 {
		return KeyQueryMetadata{}, metaErr(ErrMetadataNotReady, "store %q: its sub-topology's topics have no partitions", storeName)
	}
	p, err := partition(n)
	if err != nil {
		return KeyQueryMetadata{}, err
	}
	if why := m.view.ready(); why != "" {
		return KeyQueryMetadata{}, metaErr(ErrMetadataNotReady, "where partition %d of store %q is, is not known yet: %s; retry", p, storeName, why)
	}
	h, ok := m.view.owner(storeName, p)
	if !ok {
		return KeyQueryMetadata{}, metaErr(ErrMetadataNotReady, "no instance has announced partition %d of store %q yet "+
			"(the group is forming, or its owner has not announced it); retry", p, storeName)
	}
	return KeyQueryMetadata{Active: h, Partition: p}, nil
}

// metadataUsable checks the App and its ApplicationServer for an
// instance-metadata call; what names what is asked, for the message.
func (a *App) metadataUsable(what string) error {
	if a == nil || a.done == nil {
		return metaErr(ErrAppNotRunning, "cannot tell %s: the App is nil or was not made by New", what)
	}
	if a.cfg.ApplicationServer == "" {
		return metaErr(ErrNoApplicationServer, "cannot tell %s: this App has no Config.ApplicationServer, "+
			"so it neither announces its tasks nor reads the other instances'", what)
	}
	return nil
}

// AllMetadata returns every instance of the application that announced
// itself (with an ApplicationServer), sorted by endpoint: those holding
// tasks, as last announced, and idle ones. An instance killed without
// closing is dropped once the instances that took its tasks announce
// them (one that held no task stays listed until an instance announces
// at its endpoint). Errors: ErrNoApplicationServer, ErrAppNotRunning,
// ErrMetadataNotReady.
func (a *App) AllMetadata() ([]InstanceMetadata, error) {
	m, err := a.metaView("the application's instances")
	if err != nil {
		return nil, err
	}
	return m.instances(a.topo), nil
}

// MetadataForStore returns the instances holding at least one partition
// of the named store, as AllMetadata describes them; for a global store,
// every instance. Errors: AllMetadata's and ErrUnknownStore.
func (a *App) MetadataForStore(name string) ([]InstanceMetadata, error) {
	what := fmt.Sprintf("the instances holding store %q", name)
	if err := a.metadataUsable(what); err != nil {
		return nil, err
	}
	shape, why, ok := a.shapeOf(name)
	if !ok {
		return nil, metaErr(ErrUnknownStore, "%s", why)
	}
	m, err := a.metaView(what)
	if err != nil {
		return nil, err
	}
	all := m.instances(a.topo)
	if shape.global {
		return all, nil
	}
	var out []InstanceMetadata
	for _, md := range all {
		for _, id := range md.Tasks {
			if id.Subtopology == shape.sub {
				out = append(out, md)
				break
			}
		}
	}
	return out, nil
}

// metaView returns the view, once usable and caught up.
func (a *App) metaView(what string) (*metaView, error) {
	if err := a.metadataUsable(what); err != nil {
		return nil, err
	}
	if why, ok := a.notQueryable(); !ok {
		return nil, metaErr(ErrAppNotRunning, "cannot tell %s: %s", what, why)
	}
	a.iq.mu.Lock()
	m := a.iq.meta
	a.iq.mu.Unlock()
	if m == nil {
		return nil, metaErr(ErrAppNotRunning, "cannot tell %s: the App is stopping", what)
	}
	if why := m.view.ready(); why != "" {
		return nil, metaErr(ErrMetadataNotReady, "cannot tell %s yet: %s; retry", what, why)
	}
	return m.view, nil
}

// defaultPartition is the partition Kafka's default partitioner gives a
// non-null key: murmur2 of its bytes, made positive, modulo the count.
func defaultPartition(key []byte, numPartitions int32) int32 {
	return murmur2.Partition(key, numPartitions)
}
