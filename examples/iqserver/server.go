package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// Count is the answer to GET /count?word=w.
type Count struct {
	Word  string `json:"word"`
	Count int64  `json:"count"`
	// ServedBy is the instance whose store answered.
	ServedBy string `json:"served_by"`
	// Via is the instance that took the request and forwarded it to
	// ServedBy; empty when ServedBy took it.
	Via string `json:"via,omitempty"`
}

// ErrorBody is the answer to a request that failed; a 503 (with
// Retry-After) means "retry": the word's instance is rebalancing,
// restoring, or not known yet.
type ErrorBody struct {
	Error string `json:"error"`
}

// forwardedHeader marks a request forwarded by another instance: it is
// answered here or refused, never forwarded again (so stale metadata on
// two instances cannot bounce a request between them).
const forwardedHeader = "X-Iqserver-Forwarded-By"

// ServedByHeader names the instance whose store answered.
const ServedByHeader = "X-Served-By"

// Server answers word-count queries for one instance: from its own store
// when the word's partition is here, otherwise by forwarding to the
// instance that holds it (MetadataForKey).
type Server struct {
	app    *streams.App
	self   string
	client *http.Client
}

// NewServer returns the query server of app.
func NewServer(app *streams.App) *Server {
	return &Server{app: app, self: app.HostInfo().String(), client: &http.Client{Timeout: 5 * time.Second}}
}

// ServeHTTP answers GET /count?word=w.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/count" || r.Method != http.MethodGet {
		writeError(w, http.StatusNotFound, errors.New("only GET /count?word=w is served"))
		return
	}
	word := r.URL.Query().Get("word")
	if word == "" {
		writeError(w, http.StatusBadRequest, errors.New("missing query parameter word"))
		return
	}
	md, err := streams.MetadataForKey(s.app, CountStore, word, record.String())
	if err != nil {
		writeError(w, status(err), err)
		return
	}
	if md.Active == s.app.HostInfo() {
		s.local(w, word, md.Partition)
		return
	}
	if by := r.Header.Get(forwardedHeader); by != "" {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%s forwarded %q here, but this instance's metadata says %s holds it: "+
			"the word moved; retry", by, word, md.Active))
		return
	}
	s.forward(w, word, md.Active.String())
}

// local answers from this instance's store, from the task of the word's
// partition only: while that task restores, or once it moved, the store
// says so (503) rather than answer 0.
func (s *Server) local(w http.ResponseWriter, word string, partition int32) {
	counts, err := streams.KeyValueStore[string, int64](s.app, CountStore, streams.StorePartition(partition))
	if err != nil {
		writeError(w, status(err), err)
		return
	}
	n, _, err := counts.Get(word)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err) // the task closed under the query: it moved
		return
	}
	w.Header().Set(ServedByHeader, s.self)
	writeJSON(w, http.StatusOK, Count{Word: word, Count: n, ServedBy: s.self})
}

// forward asks the instance holding the word and relays its answer.
func (s *Server) forward(w http.ResponseWriter, word, owner string) {
	req, err := http.NewRequest(http.MethodGet, "http://"+owner+"/count?word="+url.QueryEscape(word), nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	req.Header.Set(forwardedHeader, s.self)
	resp, err := s.client.Do(req)
	if err != nil {
		// A stopped instance whose claim has not been replaced yet.
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("forwarding %q to %s: %w; retry", word, owner, err))
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Errorf("reading the answer of %s: %w", owner, err))
		return
	}
	if resp.StatusCode != http.StatusOK {
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
		return
	}
	var c Count
	if err := json.Unmarshal(body, &c); err != nil {
		writeError(w, http.StatusBadGateway, fmt.Errorf("the answer of %s is not a count: %w", owner, err))
		return
	}
	c.Via = s.self
	w.Header().Set(ServedByHeader, c.ServedBy)
	writeJSON(w, http.StatusOK, c)
}

// status maps a query or metadata error to an HTTP status: what a retry
// may cure is 503, a stopping App 503 too (its clients go elsewhere).
func status(err error) int {
	switch {
	case errors.Is(err, streams.ErrStoreNotReady), errors.Is(err, streams.ErrStoreNotLocal),
		errors.Is(err, streams.ErrMetadataNotReady), errors.Is(err, streams.ErrAppNotRunning):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, code int, err error) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, code, ErrorBody{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
