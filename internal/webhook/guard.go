package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/wagate/wagate/internal/apperr"
)

// ErrForbiddenURL is a webhook URL that resolves to an address wagate must
// not call: loopback, private, link-local (cloud metadata), and the like.
var ErrForbiddenURL = apperr.Unprocessable("webhook-url-forbidden",
	"url resolves to a loopback, private, link-local or otherwise internal address; "+
		"set WAGATE_WEBHOOK_ALLOW_PRIVATE=true to allow it (local development)")

// ErrUnresolvableURL is a webhook URL whose host does not resolve.
var ErrUnresolvableURL = apperr.Unprocessable("webhook-url-unresolvable", "url host does not resolve to an address")

// errForbiddenAddress is returned by the dialer when a connection would go
// to a forbidden address (DNS may have changed since registration).
var errForbiddenAddress = errors.New("connection to an internal address refused")

// blockedPrefixes are ranges that are neither public nor covered by the
// netip predicates used in forbidden.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (also some clouds' metadata)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may embed any IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: may embed any IPv4
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated): may embed any IPv4
}

// forbidden reports whether ip is not a public unicast address.
func forbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Guard keeps webhook traffic away from internal addresses, both when a URL
// is registered and when a connection is made (DNS answers change, so the
// registration check alone would not hold).
type Guard struct {
	// AllowPrivate switches the guard off (WAGATE_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	// Resolver looks host names up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// CheckURL refuses a URL whose host is, or resolves to, a forbidden address.
func (g Guard) CheckURL(ctx context.Context, rawURL string) error {
	if g.AllowPrivate {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return ErrInvalidURL
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if forbidden(ip) {
			return ErrForbiddenURL
		}
		return nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return ErrUnresolvableURL.WithMessage("url host %q does not resolve to an address", host)
	}
	for _, ip := range addrs {
		if forbidden(ip) {
			return ErrForbiddenURL
		}
	}
	return nil
}

// control is a net.Dialer Control function: it runs after DNS resolution,
// on the exact address about to be connected, so a name that resolves to a
// public address at registration and to a private one later is still
// refused.
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errForbiddenAddress, address)
	}
	if forbidden(ap.Addr()) {
		return fmt.Errorf("%w: %s", errForbiddenAddress, ap.Addr())
	}
	return nil
}
