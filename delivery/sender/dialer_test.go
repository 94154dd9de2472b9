package sender_test

import (
	"context"
	"crypto/tls"
	"errors"
	"github.com/hookstream/hookstream"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/delivery/sender"
)

func TestIsPrivate(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		// Loopback.
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"127.1.2.3", true},
		{"::1", true},
		// RFC 1918.
		{"10.0.0.0", true},
		{"10.255.255.255", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.0.1", true},
		{"192.168.255.255", true},
		// CGNAT.
		{"100.64.0.0", true},
		{"100.127.255.255", true},
		// Link-local, including the cloud metadata address.
		{"169.254.169.254", true},
		{"169.254.0.1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"febf::ffff", true},
		// Unique-local and deprecated site-local.
		{"fc00::1", true},
		{"fd12:3456:789a::1", true},
		{"fdff:ffff::1", true},
		{"fec0::1", true},
		{"feff::1", true},
		// Multicast.
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"239.255.255.255", true},
		{"ff02::1", true},
		{"ff05::2", true},
		{"ff0e::1", true},
		// Unspecified and "this network".
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"0.255.255.255", true},
		{"::", true},
		// Broadcast and reserved.
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		// IPv4-mapped IPv6 forms.
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.1.2.3", true},
		{"::ffff:172.16.0.1", true},
		{"::ffff:192.168.1.1", true},
		{"::ffff:100.64.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:224.0.0.1", true},
		{"::ffff:0.0.0.0", true},
		{"::ffff:0.1.2.3", true},
		{"::ffff:255.255.255.255", true},
		{"::ffff:7f00:1", true},
		// NAT64 forms.
		{"64:ff9b::127.0.0.1", true},
		{"64:ff9b::10.0.0.1", true},
		{"64:ff9b::169.254.169.254", true},
		{"64:ff9b::8.8.8.8", false},
		// Public addresses, including the neighbours of private ranges.
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.216.34", false},
		{"1.0.0.0", false},
		{"9.255.255.255", false},
		{"11.0.0.0", false},
		{"126.255.255.255", false},
		{"128.0.0.0", false},
		{"172.15.255.255", false},
		{"172.32.0.0", false},
		{"192.167.255.255", false},
		{"192.169.0.0", false},
		{"100.63.255.255", false},
		{"100.128.0.0", false},
		{"169.253.255.255", false},
		{"169.255.0.0", false},
		{"223.255.255.255", false},
		{"2606:4700:4700::1111", false},
		{"2001:4860:4860::8888", false},
		{"fbff:ffff::1", false},
		{"::ffff:8.8.8.8", false},
		{"::ffff:172.32.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.addr)
			if got := hookstream.IsPrivateAddress(ip); got != tt.want {
				t.Errorf("hookstream.IsPrivateAddress(%s) = %v, want %v", ip, got, tt.want)
			}
		})
	}
	if !hookstream.IsPrivateAddress(netip.Addr{}) {
		t.Error("hookstream.IsPrivateAddress(zero Addr) = false, want true (fail closed)")
	}
}

// The Control hook is called directly here: it sees the literal address the
// dialer is about to connect to, so no connection is ever opened.
func TestDialerControl(t *testing.T) {
	d := sender.NewDialer(time.Second, false)
	if d.Control == nil {
		t.Fatal("NewDialer(allowPrivate=false).Control is nil")
	}
	tests := []struct {
		network, address string
		refused          bool
	}{
		{"tcp4", "127.0.0.1:80", true},
		{"tcp4", "10.0.0.1:443", true},
		{"tcp4", "169.254.169.254:80", true},
		{"tcp4", "0.0.0.0:80", true},
		{"tcp4", "255.255.255.255:80", true},
		{"tcp6", "[::1]:443", true},
		{"tcp6", "[::]:443", true},
		{"tcp6", "[fe80::1%eth0]:80", true},
		{"tcp6", "[fd00::1]:80", true},
		{"tcp6", "[::ffff:127.0.0.1]:80", true},
		{"tcp6", "[::ffff:192.168.0.1]:80", true},
		{"tcp", "localhost:80", true}, // not a literal: fail closed
		{"tcp", "", true},
		{"tcp4", "8.8.8.8:443", false},
		{"tcp6", "[2606:4700:4700::1111]:443", false},
		{"tcp6", "[::ffff:1.1.1.1]:443", false},
	}
	for _, tt := range tests {
		t.Run(tt.network+" "+tt.address, func(t *testing.T) {
			err := d.Control(tt.network, tt.address, nil)
			if !tt.refused {
				if err != nil {
					t.Errorf("Control(%q) = %v, want nil", tt.address, err)
				}
				return
			}
			if !errors.Is(err, sender.ErrPrivateDestination) {
				t.Fatalf("Control(%q) = %v, want ErrPrivateDestination", tt.address, err)
			}
			if ap, perr := netip.ParseAddrPort(tt.address); perr == nil && !strings.Contains(err.Error(), ap.Addr().String()) {
				t.Errorf("error %q does not name the address %s", err, ap.Addr())
			}
		})
	}
	if d := sender.NewDialer(time.Second, true); d.Control != nil {
		t.Error("NewDialer(allowPrivate=true).Control is set; private destinations would still be refused")
	}
	if d := sender.NewDialer(3*time.Second, false); d.Timeout != 3*time.Second {
		t.Errorf("NewDialer timeout = %v, want 3s", d.Timeout)
	}
}

// countingServer is a loopback test server that counts accepted connections
// and handled requests.
type countingServer struct {
	*httptest.Server
	conns    atomic.Int64
	requests atomic.Int64
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.requests.Add(1)
		h(w, r)
	}))
	// Server.Serve reports StateNew from its accept loop before handling
	// the connection, so once a later request has been answered every
	// earlier connection has been counted.
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

func okHandler(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

// proveNothingReached makes one allowed request and checks that srv saw
// nothing but it and the prior connections the test made on purpose, proving
// refused attempts never connected.
func proveNothingReached(t *testing.T, srv *countingServer, priorConns int64) {
	t.Helper()
	client := sender.NewHTTPClient(sender.ClientOptions{Timeout: 5 * time.Second, AllowPrivate: true})
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("allowed request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := srv.conns.Load(); n != priorConns+1 {
		t.Errorf("server saw %d connections, want %d (only the allowed ones)", n, priorConns+1)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1 (only the allowed one)", n)
	}
}

func TestDialerRefusesLoopbackBeforeConnecting(t *testing.T) {
	srv := newCountingServer(t, okHandler)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	for _, addr := range []string{
		"127.0.0.1:" + port,
		"localhost:" + port, // a name resolving to loopback
		"[::1]:" + port,
		"[::ffff:127.0.0.1]:" + port,
	} {
		t.Run(addr, func(t *testing.T) {
			conn, err := sender.NewDialer(time.Second, false).DialContext(ctx, "tcp", addr)
			if err == nil {
				conn.Close()
				t.Fatalf("dial %s succeeded, want ErrPrivateDestination", addr)
			}
			if !errors.Is(err, sender.ErrPrivateDestination) {
				t.Fatalf("dial %s: %v, want ErrPrivateDestination", addr, err)
			}
		})
	}

	conn, err := sender.NewDialer(time.Second, true).DialContext(ctx, "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("dial with allowPrivate: %v", err)
	}
	conn.Close()
	proveNothingReached(t, srv, 1)
}

func TestHTTPClientRefusesPrivate(t *testing.T) {
	srv := newCountingServer(t, okHandler)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client := sender.NewHTTPClient(sender.ClientOptions{Timeout: 5 * time.Second})
	for _, url := range []string{srv.URL, "http://localhost:" + port + "/hook"} {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s succeeded, want ErrPrivateDestination", url)
		}
		if !errors.Is(err, sender.ErrPrivateDestination) {
			t.Fatalf("GET %s: %v, want ErrPrivateDestination", url, err)
		}
	}
	proveNothingReached(t, srv, 0)
}

func TestHTTPClientDoesNotFollowRedirects(t *testing.T) {
	for _, code := range []int{
		http.StatusMovedPermanently,
		http.StatusFound,
		http.StatusSeeOther,
		http.StatusTemporaryRedirect,
		http.StatusPermanentRedirect,
	} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			target := newCountingServer(t, okHandler)
			redirector := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/elsewhere", code)
			})
			client := sender.NewHTTPClient(sender.ClientOptions{Timeout: 5 * time.Second, AllowPrivate: true})
			defer client.CloseIdleConnections()

			resp, err := client.Post(redirector.URL, "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != code {
				t.Errorf("status = %d, want %d (the redirect itself)", resp.StatusCode, code)
			}
			if loc := resp.Header.Get("Location"); loc != target.URL+"/elsewhere" {
				t.Errorf("Location = %q", loc)
			}
			// The redirect has been fully answered, so a followed
			// redirect would already have reached target.
			if n := target.conns.Load() + target.requests.Load(); n != 0 {
				t.Errorf("redirect target saw %d connections+requests, want 0", n)
			}
		})
	}
}

func TestHTTPClientTLSVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(okHandler))
	defer srv.Close()

	strict := sender.NewHTTPClient(sender.ClientOptions{Timeout: 5 * time.Second, AllowPrivate: true})
	resp, err := strict.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("GET to self-signed server succeeded with verification on")
	}
	var verifyErr *tls.CertificateVerificationError
	if !errors.As(err, &verifyErr) {
		t.Errorf("GET error = %v, want a certificate verification error", err)
	}

	lax := sender.NewHTTPClient(sender.ClientOptions{Timeout: 5 * time.Second, AllowPrivate: true, InsecureSkipVerify: true})
	defer lax.CloseIdleConnections()
	resp, err = lax.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET with InsecureSkipVerify: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
}

func TestNewHTTPClientConfig(t *testing.T) {
	tests := []struct {
		name     string
		opts     sender.ClientOptions
		wantIdle int
	}{
		{"defaults", sender.ClientOptions{}, 16},
		{"explicit", sender.ClientOptions{Timeout: 7 * time.Second, MaxConnsPerHost: 50, MaxIdleConnsPerHost: 10}, 10},
		{"idle clamped to max conns", sender.ClientOptions{MaxConnsPerHost: 4, MaxIdleConnsPerHost: 10}, 4},
		{"default idle clamped to max conns", sender.ClientOptions{MaxConnsPerHost: 3}, 3},
		{"insecure", sender.ClientOptions{InsecureSkipVerify: true, AllowPrivate: true}, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sender.NewHTTPClient(tt.opts)
			if c.Timeout != tt.opts.Timeout {
				t.Errorf("Timeout = %v, want %v", c.Timeout, tt.opts.Timeout)
			}
			if c.CheckRedirect == nil || !errors.Is(c.CheckRedirect(nil, nil), http.ErrUseLastResponse) {
				t.Error("CheckRedirect does not return http.ErrUseLastResponse")
			}
			tr, ok := c.Transport.(*http.Transport)
			if !ok {
				t.Fatalf("Transport is %T, want *http.Transport", c.Transport)
			}
			if tr.Proxy != nil {
				t.Error("Transport.Proxy is set; a proxy would bypass the private-address check")
			}
			//lint:ignore SA1019 the deprecated dial hooks must stay unset, so the test reads them.
			if tr.DialContext == nil || tr.DialTLSContext != nil || tr.Dial != nil || tr.DialTLS != nil {
				t.Error("all connections must go through the checked DialContext")
			}
			if tr.TLSClientConfig == nil || tr.TLSClientConfig.InsecureSkipVerify != tt.opts.InsecureSkipVerify {
				t.Errorf("TLS InsecureSkipVerify = %v, want %v", tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify, tt.opts.InsecureSkipVerify)
			}
			if tr.MaxConnsPerHost != tt.opts.MaxConnsPerHost {
				t.Errorf("MaxConnsPerHost = %d, want %d", tr.MaxConnsPerHost, tt.opts.MaxConnsPerHost)
			}
			if tr.MaxIdleConnsPerHost != tt.wantIdle {
				t.Errorf("MaxIdleConnsPerHost = %d, want %d", tr.MaxIdleConnsPerHost, tt.wantIdle)
			}
			if tr.IdleConnTimeout <= 0 {
				t.Error("IdleConnTimeout unset: idle connections would be kept forever")
			}
		})
	}
}
