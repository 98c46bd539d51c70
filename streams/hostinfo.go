package streams

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// HostInfo is an instance's query endpoint, as Config.ApplicationServer
// gives it (Kafka Streams' HostInfo). The zero HostInfo is "no endpoint".
type HostInfo struct {
	Host string
	Port int
}

// String returns host:port (an IPv6 host in brackets), or "" for the
// zero HostInfo.
func (h HostInfo) String() string {
	if h == (HostInfo{}) {
		return ""
	}
	return net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
}

// parseHostInfo reads a host:port endpoint; the error says what is wrong
// with it.
func parseHostInfo(s string) (HostInfo, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return HostInfo{}, fmt.Errorf("%q is not host:port (%v)", s, err)
	}
	n, err := strconv.Atoi(port)
	switch {
	case err != nil || n < 1 || n > 65535:
		return HostInfo{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	case host == "":
		return HostInfo{}, fmt.Errorf("%q has no host: other instances need an address to reach this one", s)
	case strings.ContainsAny(host, " /\\?#@"):
		return HostInfo{}, fmt.Errorf("%q: host %q is not a host name or address", s, host)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return HostInfo{}, fmt.Errorf("%q: %s is a listen-on-every-interface address, which other instances cannot reach; "+
			"advertise this instance's own address", s, host)
	}
	return HostInfo{Host: host, Port: n}, nil
}

// HostInfo returns this instance's endpoint (Config.ApplicationServer),
// or the zero HostInfo if it has none. Compare it with the Active host of
// MetadataForKey to tell whether a key is served here.
func (a *App) HostInfo() HostInfo {
	if a == nil {
		return HostInfo{}
	}
	h, err := parseHostInfo(a.cfg.ApplicationServer)
	if err != nil {
		return HostInfo{}
	}
	return h
}
