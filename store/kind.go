package store

// Kind names what a builder builds, for descriptions: "key-value",
// "window" or "session".
func (b *KeyValueBuilder[K, V]) Kind() string { return "key-value" }

// Kind returns "window".
func (b *WindowBuilder[K, V]) Kind() string { return "window" }

// Kind returns "session".
func (b *SessionBuilder[K, V]) Kind() string { return "session" }
