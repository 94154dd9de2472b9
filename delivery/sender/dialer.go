package sender

import (
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/hookstream/hookstream"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrPrivateDestination is wrapped by the error of a connection refused
// because its resolved address is not on the public internet.
var ErrPrivateDestination = errors.New("destination address is private")

// NewDialer returns a dialer that, unless allowPrivate is set, refuses
// private destinations (see hookstream.IsPrivateAddress) with an error wrapping
// ErrPrivateDestination.
//
// The check lives in Control because Control runs for every connection
// attempt after name resolution and before connect, with the literal IP about
// to be dialed. Validating a URL's host when an endpoint is created is not
// enough: DNS can answer with a public address then and a private one at
// delivery time (DNS rebinding), and a name can resolve to several addresses.
// The dialer uses the default resolver, whose own connections to the DNS
// server don't go through Control, so a resolver on a private address keeps
// working.
func NewDialer(timeout time.Duration, allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = refusePrivate
	}
	return d
}

// refusePrivate is a net.Dialer Control func. It fails closed on an address
// it cannot parse, since that address is not known to be public.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to dial %s %q: %w: %w", network, address, ErrPrivateDestination, err)
	}
	if hookstream.IsPrivateAddress(ap.Addr()) {
		return fmt.Errorf("refusing to dial %s: %w", ap.Addr(), ErrPrivateDestination)
	}
	return nil
}

// ClientOptions configures NewHTTPClient.
type ClientOptions struct {
	// Timeout bounds a whole request, from dialing to reading the body, and
	// also each dial on its own; zero means no limit.
	Timeout time.Duration
	// AllowPrivate lets deliveries reach private addresses, for
	// self-hosted setups whose endpoints live on the same network.
	AllowPrivate bool
	// InsecureSkipVerify disables TLS certificate verification, for
	// endpoints with self-signed certificates.
	InsecureSkipVerify bool
	// MaxConnsPerHost caps concurrent connections to one endpoint host so a
	// burst can't overwhelm it; zero means no limit.
	MaxConnsPerHost int
	// MaxIdleConnsPerHost is how many connections to keep open per host
	// between deliveries; zero means 16, capped at MaxConnsPerHost.
	MaxIdleConnsPerHost int
}

// defaultMaxIdleConnsPerHost is above net/http's 2 because a busy endpoint
// receives deliveries from many workers at once, and re-dialing (plus a TLS
// handshake) per event would dominate the cost.
const defaultMaxIdleConnsPerHost = 16

// idleConnTimeout drops pooled connections before typical server and load
// balancer idle timeouts would close them under us.
const idleConnTimeout = 60 * time.Second

// NewHTTPClient returns a client for webhook deliveries. It never uses a
// proxy, because a proxy would connect on our behalf and bypass the dialer's
// private-address check, and it never follows redirects: the 3xx is the
// endpoint's answer, and following it could lead to an address the endpoint
// owner doesn't control. HTTP/2 is not attempted so that MaxConnsPerHost
// counts in-flight requests one for one.
func NewHTTPClient(opts ClientOptions) *http.Client {
	idle := opts.MaxIdleConnsPerHost
	if idle <= 0 {
		idle = defaultMaxIdleConnsPerHost
	}
	if opts.MaxConnsPerHost > 0 && idle > opts.MaxConnsPerHost {
		idle = opts.MaxConnsPerHost
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         NewDialer(opts.Timeout, opts.AllowPrivate).DialContext,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: opts.InsecureSkipVerify},
		TLSHandshakeTimeout: opts.Timeout,
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: idle,
		MaxConnsPerHost:     opts.MaxConnsPerHost,
		IdleConnTimeout:     idleConnTimeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
