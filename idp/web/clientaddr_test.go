package web

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddrBehindProxies(t *testing.T) {
	cidrs := []string{"10.0.0.0/8", "192.0.2.1", "2001:db8:ffff::/48"}
	xff, err := ParseProxies(cidrs, "")
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := ParseProxies(cidrs, HeaderForwarded)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		headers    map[string]string
		want       string
		forwarded  bool // the proxies write Forwarded
	}{
		{"no proxy, no header", "198.51.100.7:4711", nil, "198.51.100.7", false},
		{"untrusted peer's spoofed XFF is ignored", "198.51.100.7:4711", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "198.51.100.7", false},
		{"untrusted peer's spoofed Forwarded is ignored", "198.51.100.7:4711", map[string]string{"Forwarded": "for=203.0.113.9"}, "198.51.100.7", false},
		{"trusted proxy, one hop", "10.1.2.3:80", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9", false},
		{"rightmost untrusted hop, left of it forged", "10.1.2.3:80", map[string]string{"X-Forwarded-For": "1.1.1.1, 203.0.113.9, 10.9.9.9"}, "203.0.113.9", false},
		// nginx writes X-Forwarded-For and passes the client's Forwarded
		// on: a forged Forwarded must not choose the address.
		{"a client's Forwarded is ignored behind an X-Forwarded-For proxy", "192.0.2.1:80", map[string]string{"Forwarded": "for=203.0.113.77", "X-Forwarded-For": "198.51.100.7"}, "198.51.100.7", false},
		{"Forwarded when the proxies write it", "192.0.2.1:80", map[string]string{"Forwarded": `for="[2001:db8::17]:4711";proto=https, for=10.0.0.2`, "X-Forwarded-For": "1.1.1.1"}, "2001:db8::17", true},
		{"a client's X-Forwarded-For is ignored behind a Forwarded proxy", "192.0.2.1:80", map[string]string{"X-Forwarded-For": "1.1.1.1"}, "192.0.2.1", true},
		{"unreadable hop stops at the last trusted one", "10.1.2.3:80", map[string]string{"Forwarded": "for=unknown"}, "10.1.2.3", true},
		{"trusted proxy without header", "10.1.2.3:80", nil, "10.1.2.3", false},
		{"IPv6 proxy", "[2001:db8:ffff::1]:443", map[string]string{"X-Forwarded-For": "198.51.100.20"}, "198.51.100.20", false},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:80", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			proxies := xff
			if tc.forwarded {
				proxies = fwd
			}
			if got := proxies.ClientAddr(r).String(); got != tc.want {
				t.Fatalf("ClientAddr = %s, want %s", got, tc.want)
			}
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:80"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := (Proxies{}).ClientAddr(r).String(); got != "10.1.2.3" {
		t.Fatalf("with no trusted proxies: %s, want the peer", got)
	}
	if _, err := ParseProxies([]string{"10.0.0.0/8", "nonsense", "300.1.1.1"}, ""); err == nil {
		t.Fatal("bad entries accepted")
	}
	if _, err := ParseProxies(cidrs, "x-real-ip"); err == nil {
		t.Fatal("an unknown forwarding header accepted")
	}
}

func TestThrottleKeyGroupsIPv6By64(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8:1:2:aaaa::1]:5"
	a := ClientAddress(r)
	r.RemoteAddr = "[2001:db8:1:2:bbbb::9]:5"
	b := ClientAddress(r)
	if ThrottleKey(a) != ThrottleKey(b) || ThrottleKey(a) != "2001:db8:1:2::/64" {
		t.Fatalf("keys %s and %s, want both 2001:db8:1:2::/64", ThrottleKey(a), ThrottleKey(b))
	}
	r.RemoteAddr = "192.0.2.1:5"
	if k := ThrottleKey(ClientAddress(r)); k != "192.0.2.1" {
		t.Fatalf("IPv4 key %s", k)
	}
}
