//go:build cgo && !millrace_norocksdb

package window_test

// The emit-final processors after a restart on RocksDB stores kept in a
// state directory (no changelog in the test driver: what survives is on
// disk), so these tests need cgo and librocksdb.

import (
	"strings"
	"testing"

	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/window"
)

func TestEmitFinalAfterARestartEmitsNoWindowTwiceAndSkipsNone(t *testing.T) {
	dir := t.TempDir()
	var got []string
	d, in := finalTopology(t, rocksdb.Window, rocksdb.KeyValue, dir, &got)
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "b", "x", 12)
	pipe(t, in, "a", "x", 16) // closes [0,10): a=1
	pipe(t, in, "a", "x", 18)
	must(t, d.Close())
	if want := "[a@0/10]=<none>->1@1"; strings.Join(got, " ") != want {
		t.Fatalf("before the restart: %v, want %s", got, want)
	}
	got = nil
	d, in = finalTopology(t, rocksdb.Window, rocksdb.KeyValue, dir, &got)
	defer d.Close()
	pipe(t, in, "a", "x", 2)  // into [0,10), emitted before the restart: late
	pipe(t, in, "b", "x", 19) // [10,20) is still open
	if len(got) != 0 {
		t.Fatalf("after the restart, before [10,20) closed: %v", got)
	}
	pipe(t, in, "c", "x", 25) // closes [10,20), restored from the store
	if want := "[a@10/20]=<none>->2@18 [b@10/20]=<none>->2@19"; strings.Join(got, " ") != want {
		t.Errorf("after the restart: %v, want %s", got, want)
	}
	st, err := d.Stats(0)
	must(t, err)
	if n := st.DroppedBy(window.DropLate); n != 1 {
		t.Errorf("%d late drops after the restart, want 1 (the record into the emitted window)", n)
	}
}

func TestSessionEmitFinalAfterARestartEmitsNoSessionTwiceAndSkipsNone(t *testing.T) {
	dir := t.TempDir()
	var got []string
	d, in := sessionFinalTopology(t, rocksdb.Session, rocksdb.KeyValue, dir, &got)
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "b", "x", 3)
	pipe(t, in, "a", "x", 20) // closes a [1,1] and b [3,3]
	pipe(t, in, "a", "x", 22) // a [20,22]
	must(t, d.Close())
	if want := "[a@1/1]=<none>->1@1 [b@3/3]=<none>->1@3"; strings.Join(got, " ") != want {
		t.Fatalf("before the restart: %v, want %s", got, want)
	}
	got = nil
	d, in = sessionFinalTopology(t, rocksdb.Session, rocksdb.KeyValue, dir, &got)
	defer d.Close()
	pipe(t, in, "a", "x", 2)  // merges into a [1,1], emitted before the restart: late
	pipe(t, in, "b", "x", 24) // b [24,24]; nothing closes
	if len(got) != 0 {
		t.Fatalf("after the restart, before any open session closed: %v", got)
	}
	pipe(t, in, "c", "x", 40) // closes the sessions restored from the store
	if want := "[a@20/22]=<none>->2@22 [b@24/24]=<none>->1@24"; strings.Join(got, " ") != want {
		t.Errorf("after the restart: %v, want %s", got, want)
	}
	st, err := d.Stats(0)
	must(t, err)
	if n := st.DroppedBy(window.DropLate); n != 1 {
		t.Errorf("%d late drops after the restart, want 1 (the record into the emitted session)", n)
	}
}

func TestSlidingEmitFinalAfterARestartEmitsNoWindowTwiceAndSkipsNone(t *testing.T) {
	dir := t.TempDir()
	var got []string
	d, in := slidingFinalTopology(t, rocksdb.Window, rocksdb.KeyValue, dir, &got)
	pipe(t, in, "a", "x", 1)  // a [0,10]
	pipe(t, in, "b", "x", 12) // b [2,12]
	pipe(t, in, "a", "x", 16) // closes [0,10]; a [6,16]
	pipe(t, in, "a", "x", 18) // closes b [2,12]; a [8,18]=2, [17,27]=1
	must(t, d.Close())
	if want := "[a@0/10]=<none>->1@1 [b@2/12]=<none>->1@12"; strings.Join(got, " ") != want {
		t.Fatalf("before the restart: %v, want %s", got, want)
	}
	got = nil
	d, in = slidingFinalTopology(t, rocksdb.Window, rocksdb.KeyValue, dir, &got)
	defer d.Close()
	pipe(t, in, "a", "x", 2)  // into [0,10] and [2,12], emitted before the restart: late
	pipe(t, in, "b", "x", 19) // b [9,19]=2, [13,23]=1; nothing closes
	if len(got) != 0 {
		t.Fatalf("after the restart, before any open window closed: %v", got)
	}
	pipe(t, in, "c", "x", 40) // closes the windows restored from the store
	want := "[a@6/16]=<none>->1@16 [a@8/18]=<none>->2@18 [b@9/19]=<none>->2@19 [b@13/23]=<none>->1@19 [a@17/27]=<none>->1@18"
	if strings.Join(got, " ") != want {
		t.Errorf("after the restart:\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	st, err := d.Stats(0)
	must(t, err)
	// One per emitted window the record would have updated or created: a
	// [0,10] and a [2,12] (the right window of a@1).
	if n := st.DroppedBy(window.DropLate); n != 2 {
		t.Errorf("%d late drops after the restart, want 2", n)
	}
}
