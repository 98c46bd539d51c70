package murmur2

import "testing"

func TestHashMatchesKafkasJavaClient(t *testing.T) {
	// The vectors of Kafka's UtilsTest.testMurmur2.
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
		// Every tail length 0-3, as other projects' suites list them.
		"1": -1993445489, "12": 126087238, "123": -267702483, "1234": -1614185708, "12345": -1188365604,
	} {
		if got := Hash([]byte(in)); got != want {
			t.Errorf("Hash(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestPartitionIsPositiveHashModuloTheCount(t *testing.T) {
	// Hash("21") is negative: the sign bit is masked, not negated.
	h := int32(-973932308)
	if got, want := Partition([]byte("21"), 7), int32(uint32(h)&0x7fffffff)%7; got != want {
		t.Errorf("Partition(21, 7) = %d, want %d", got, want)
	}
	for i := range 1000 {
		if p := Partition([]byte{byte(i), byte(i >> 8)}, 5); p < 0 || p >= 5 {
			t.Fatalf("partition %d out of 0..4", p)
		}
	}
}
