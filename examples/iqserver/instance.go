package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/streams"
)

// Instance is one instance of the application: an App and the HTTP
// server that answers queries for it, on an address of its own that is
// also its ApplicationServer.
type Instance struct {
	App  *streams.App
	Addr string // host:port of the HTTP server

	srv    *http.Server
	served chan error
	ran    chan error

	once     sync.Once
	closeErr error
}

// StartInstance listens on a free loopback port, starts an App that
// advertises that address, and serves queries there.
func StartInstance(bootstrap, stateDir string, logger *zap.Logger) (*Instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	topo, err := NewTopology()
	if err != nil {
		ln.Close()
		return nil, err
	}
	app, err := streams.New(topo, streams.Config{ApplicationID: ApplicationID, BootstrapServers: bootstrap,
		ApplicationServer: ln.Addr().String(), StateDir: stateDir, CommitInterval: 100 * time.Millisecond,
		SessionTimeout: 6 * time.Second, Logger: logger.With(zap.String("instance", ln.Addr().String()))})
	if err != nil {
		ln.Close()
		return nil, err
	}
	in := &Instance{App: app, Addr: ln.Addr().String(), srv: &http.Server{Handler: NewServer(app), ReadHeaderTimeout: 5 * time.Second},
		served: make(chan error, 1), ran: make(chan error, 1)}
	go func() { in.ran <- app.Run(context.Background()) }()
	go func() { in.served <- in.srv.Serve(ln) }()
	return in, nil
}

// Close stops serving queries, then stops the App (which hands its tasks
// to the other instances), and returns what failed. It is idempotent.
func (in *Instance) Close() error {
	in.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errs := []error{in.srv.Shutdown(ctx)}
		if err := <-in.served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		errs = append(errs, in.App.Close())
		<-in.ran // Run's error is Close's
		in.closeErr = errors.Join(errs...)
	})
	return in.closeErr
}

// Ask queries word through the instance at addr, retrying while it
// answers 503 (rebalancing, restoring, metadata not known yet) until
// deadline.
func Ask(client *http.Client, addr, word string, deadline time.Time) (Count, error) {
	for {
		c, retry, err := ask(client, addr, word)
		if err == nil || !retry || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ask(client *http.Client, addr, word string) (c Count, retry bool, err error) {
	resp, err := client.Get("http://" + addr + "/count?word=" + url.QueryEscape(word))
	if err != nil {
		return c, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e ErrorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return c, resp.StatusCode == http.StatusServiceUnavailable, fmt.Errorf("%s answered %s: %s", addr, resp.Status, e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return c, false, fmt.Errorf("%s answered no count: %w", addr, err)
	}
	if got := resp.Header.Get(ServedByHeader); got != c.ServedBy {
		return c, false, fmt.Errorf("%s: header %s says %q, the body %q", addr, ServedByHeader, got, c.ServedBy)
	}
	return c, false, nil
}
