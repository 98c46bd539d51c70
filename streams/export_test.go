package streams

// Crash stops a running App hard, as a killed process would: no commit, no
// checkpoint, queued output purged. Tests restart from the same state
// directory afterwards.
func Crash(a *App) error {
	a.crash.Store(true)
	return a.Close()
}

// DeadLettered returns the dead letters the App's running tasks wrote.
func DeadLettered(a *App) int64 {
	a.iq.mu.Lock()
	defer a.iq.mu.Unlock()
	var n int64
	for _, t := range a.iq.tasks {
		n += t.Stats().DeadLettered.Load()
	}
	return n
}
