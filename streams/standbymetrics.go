package streams

import (
	"slices"
	"sync"
	"time"

	"github.com/millrace/millrace/processor"
)

// StandbyMetrics is one standby task of Metrics.Standbys.
type StandbyMetrics struct {
	ID processor.TaskID
	// Open: the instance keeps the standby now (false: it did earlier; its
	// counters stay, its lag is zero).
	Open bool
	// Lag is the changelog offsets the standby has yet to apply, summed
	// over its changelog partitions: their end offsets (as last fetched)
	// less its positions. It is -1 until the standby began following its
	// changelogs (its end offsets are not known before), and 0 once closed.
	Lag int64
	// Applied counts the changelog records the standby wrote into its
	// stores, over every standby of the task on this instance.
	Applied int64
	// Checkpoints counts the checkpoints it wrote; LastCheckpoint is when
	// it last wrote one (zero: never).
	Checkpoints    int64
	LastCheckpoint time.Time
}

// standbyStats are the standby tasks' figures, under their own lock (the
// restorer reports here once per pass and per write batch).
type standbyStats struct {
	mu    sync.Mutex
	tasks map[processor.TaskID]*StandbyMetrics
}

func (s *standbyStats) get(id processor.TaskID) *StandbyMetrics {
	if s.tasks == nil {
		s.tasks = map[processor.TaskID]*StandbyMetrics{}
	}
	st := s.tasks[id]
	if st == nil {
		st = &StandbyMetrics{ID: id}
		s.tasks[id] = st
	}
	return st
}

func (m *metrics) standbyOpened(id processor.TaskID) {
	m.sb.mu.Lock()
	st := m.sb.get(id)
	st.Open, st.Lag = true, -1
	m.sb.mu.Unlock()
}

func (m *metrics) standbyClosed(id processor.TaskID) {
	m.sb.mu.Lock()
	st := m.sb.get(id)
	st.Open, st.Lag = false, 0
	m.sb.mu.Unlock()
}

func (m *metrics) standbyLag(id processor.TaskID, lag int64) {
	m.sb.mu.Lock()
	if st := m.sb.tasks[id]; st != nil && st.Open {
		st.Lag = lag
	}
	m.sb.mu.Unlock()
}

func (m *metrics) standbyApplied(id processor.TaskID, n int) {
	m.sb.mu.Lock()
	m.sb.get(id).Applied += int64(n)
	m.sb.mu.Unlock()
}

func (m *metrics) standbyCheckpointed(id processor.TaskID) {
	m.sb.mu.Lock()
	st := m.sb.get(id)
	st.Checkpoints++
	st.LastCheckpoint = time.Now()
	m.sb.mu.Unlock()
}

// standbys returns every standby task's figures, ordered by id.
func (m *metrics) standbys() []StandbyMetrics {
	m.sb.mu.Lock()
	defer m.sb.mu.Unlock()
	out := make([]StandbyMetrics, 0, len(m.sb.tasks))
	for _, st := range m.sb.tasks {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b StandbyMetrics) int { return a.ID.Compare(b.ID) })
	return out
}

// StandbyTasks returns the tasks this instance keeps standby replicas of
// now (Config.StandbyReplicas), ordered by id: introspection, for tests
// and operators. It is safe from any goroutine, at any time.
func (a *App) StandbyTasks() []processor.TaskID {
	if a == nil || a.m == nil {
		return nil
	}
	var out []processor.TaskID
	for _, s := range a.m.standbys() {
		if s.Open {
			out = append(out, s.ID)
		}
	}
	return out
}

// RestoredRecords returns the changelog records restorations wrote into the
// task's stores on this instance (the sum of its stores' Restored); a
// standby's applied records are not among them (Metrics.Standbys).
func (t TaskMetrics) RestoredRecords() int64 {
	var n int64
	for _, s := range t.Stores {
		n += s.Restored
	}
	return n
}
