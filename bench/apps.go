package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/streamsopt"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/streams"
)

// startChildProcessor starts the processor of a row inside its child.
func startChildProcessor(spec childSpec) (childHandle, error) {
	switch spec.Kind {
	case kindRaw:
		return startRaw(spec)
	case kindRawRead:
		return startRawReader(spec)
	case kindGoka:
		return startGoka(spec)
	}
	topo, err := topologyFor(spec)
	if err != nil {
		return nil, err
	}
	cfg := streams.Config{ApplicationID: spec.AppID, BootstrapServers: spec.Bootstrap, StateDir: spec.StateDir,
		BufferedRecordsPerPartition: spec.Buffered}
	if len(spec.AppConsumerConfig) > 0 {
		cfg.ConsumerConfig = map[string]any{}
		for k, v := range spec.AppConsumerConfig {
			cfg.ConsumerConfig[k] = v
		}
	}
	if len(spec.AppProducerConfig) > 0 {
		cfg.ProducerConfig = map[string]any{}
		for k, v := range spec.AppProducerConfig {
			cfg.ProducerConfig[k] = v
		}
	}
	if spec.EOS {
		cfg.ProcessingGuarantee = streams.ExactlyOnceV2
	}
	if spec.WrapperProducer {
		streamsopt.WrapperProducer(&cfg, true)
	}
	h, err := startApp(topo, cfg)
	if err != nil {
		return nil, err
	}
	if spec.Kind == kindRestore {
		h.wantRestored = int64(spec.Records)
	}
	return h, nil
}

// appHandle runs a Millrace App; it is ready when the App reaches RUNNING.
type appHandle struct {
	app          *streams.App
	wantRestored int64 // restore rows: the records the store must have restored
	running      chan struct{}
	at           time.Time
	once         sync.Once
	done         chan struct{}
	err          error
	stopOnce     sync.Once
}

func startApp(topo *processor.Topology, cfg streams.Config) (*appHandle, error) {
	h := &appHandle{running: make(chan struct{}), done: make(chan struct{})}
	cfg.StateListener = func(_, to streams.State) {
		if to == streams.Running {
			h.once.Do(func() {
				h.at = time.Now()
				close(h.running)
			})
		}
	}
	app, err := streams.New(topo, cfg)
	if err != nil {
		return nil, err
	}
	h.app = app
	go func() {
		defer close(h.done)
		h.err = app.Run(context.Background())
	}()
	return h, nil
}

// restoring describes the App's restoration while its stores restore
// (Metrics().Restore, as streams.NewRestorePrinter prints it), and is empty
// otherwise: the parent's start-up line shows it live.
func (h *appHandle) restoring() string {
	if p := h.app.Metrics().Restore; p.Active {
		return p.String()
	}
	return ""
}

func (h *appHandle) ready() <-chan struct{}  { return h.running }
func (h *appHandle) readyAt() time.Time      { return h.at }
func (h *appHandle) exited() <-chan struct{} { return h.done }

func (h *appHandle) stop() error {
	h.stopOnce.Do(func() { h.app.Close() })
	<-h.done
	return h.err
}

// processedCount is the records the App's tasks processed (read from
// App.Metrics: the tasks publish their counters, reading them costs
// nothing per record).
func (h *appHandle) processedCount() (int64, error) {
	var n int64
	for _, t := range h.app.Metrics().Tasks {
		n += t.Processed
	}
	return n, nil
}

// restored is the changelog records the App's stores restored.
func (h *appHandle) restored() int64 {
	var n int64
	for _, t := range h.app.Metrics().Tasks {
		for _, st := range t.Stores {
			n += st.Restored
		}
	}
	return n
}

// info reports, for a restore row, how many records the App restored,
// and fails if that is not the changelog's count.
func (h *appHandle) info() (map[string]string, error) {
	if h.wantRestored == 0 {
		return nil, nil
	}
	n := h.restored()
	if n != h.wantRestored {
		return nil, fmt.Errorf("the App reached RUNNING having restored %d of the changelog's %d records", n, h.wantRestored)
	}
	return map[string]string{"restored": fmt.Sprint(n)}, nil
}
