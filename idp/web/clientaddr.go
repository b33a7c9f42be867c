package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

const clientAddrKey ctxKey = iota + 100

// The forwarding headers a proxy may be configured to write
// (trusted_proxy_header).
const (
	HeaderXForwardedFor = "x-forwarded-for"
	HeaderForwarded     = "forwarded" // RFC 7239
)

// Proxies are the reverse proxies whose forwarding header is believed
// (the trusted_proxies setting), and which header that is. The zero
// value trusts no one: every client is its TCP peer, whatever headers it
// sends.
type Proxies struct {
	prefixes []netip.Prefix
	// forwarded: the proxies write Forwarded (RFC 7239); otherwise
	// X-Forwarded-For. Only that header is read: a proxy passes the other
	// one on as the client sent it.
	forwarded bool
}

// ParseProxies reads a list of CIDR prefixes (a bare address is one host)
// and the header they write, HeaderXForwardedFor ("" means it) or
// HeaderForwarded. Every bad entry is reported at once.
func ParseProxies(cidrs []string, header string) (Proxies, error) {
	var p Proxies
	switch strings.ToLower(header) {
	case "", HeaderXForwardedFor:
	case HeaderForwarded:
		p.forwarded = true
	default:
		return Proxies{}, fmt.Errorf("the forwarding header is %q or %q, not %q", HeaderXForwardedFor, HeaderForwarded, header)
	}
	var bad []string
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if !strings.Contains(c, "/") {
			if a, err := netip.ParseAddr(c); err == nil {
				p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
		}
		prefix, err := netip.ParsePrefix(c)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q", c))
			continue
		}
		if prefix.Addr().Is4In6() {
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
		}
		p.prefixes = append(p.prefixes, prefix.Masked())
	}
	if len(bad) > 0 {
		return Proxies{}, fmt.Errorf("not a CIDR prefix or address: %s", strings.Join(bad, ", "))
	}
	return p, nil
}

// Trusts reports whether a is one of the proxies.
func (p Proxies) Trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, prefix := range p.prefixes {
		if prefix.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr is the address of the client that sent r. When the TCP peer
// is a trusted proxy, it is the rightmost hop of the proxies' header
// (X-Forwarded-For, or Forwarded when so configured; never the other,
// which the client may have written) that is not itself a trusted proxy: every
// hop to the left of it was written by the client and may be forged. A hop
// that cannot be read stops the walk at the last trusted one. Nothing
// else a proxy forwards (X-Forwarded-Proto, -Host) is believed: the issuer
// is configured, never taken from a request.
func (p Proxies) ClientAddr(r *http.Request) netip.Addr {
	peer := parseHop(r.RemoteAddr)
	if !peer.IsValid() || !p.Trusts(peer) {
		return peer
	}
	hops := forwardedFor(r.Header, p.forwarded)
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := parseHop(hops[i])
		if !hop.IsValid() {
			break
		}
		addr = hop
		if !p.Trusts(hop) {
			break
		}
	}
	return addr
}

// forwardedFor lists, left to right, the for= hops of every Forwarded
// header (forwarded), or the hops of every X-Forwarded-For header.
func forwardedFor(h http.Header, forwarded bool) []string {
	var hops []string
	if !forwarded {
		for _, line := range h.Values("X-Forwarded-For") {
			for _, hop := range strings.Split(line, ",") {
				hops = append(hops, strings.TrimSpace(hop))
			}
		}
		return hops
	}
	for _, line := range h.Values("Forwarded") {
		for _, elem := range strings.Split(line, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					hops = append(hops, strings.Trim(v, `"`))
				}
			}
		}
	}
	return hops
}

// parseHop reads "1.2.3.4", "1.2.3.4:5", "2001:db8::1", "[2001:db8::1]"
// or "[2001:db8::1]:5"; anything else ("unknown", "_hidden") is invalid.
func parseHop(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// WithClientAddr returns ctx carrying the request's client address (the
// middleware resolves it once per request).
func WithClientAddr(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, clientAddrKey, a)
}

// ClientAddress is the client address of r: the one the middleware
// resolved through the trusted proxies, or the TCP peer.
func ClientAddress(r *http.Request) netip.Addr {
	if a, ok := ClientAddressFrom(r.Context()); ok {
		return a
	}
	return parseHop(r.RemoteAddr)
}

// ClientAddressFrom is the client address the middleware put in ctx.
func ClientAddressFrom(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(clientAddrKey).(netip.Addr)
	return a, ok
}

// ClientIP is ClientAddress as text, what audit rows and session lists
// record ("" when the peer address is unreadable).
func ClientIP(r *http.Request) string {
	a := ClientAddress(r)
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// ThrottleKey is the address as attempt limits count it: an IPv4 address,
// or the /64 an IPv6 address belongs to (one subscriber commonly holds a
// whole /64, so counting single IPv6 addresses would let them rotate).
func ThrottleKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
