package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// errFetchTooLarge and errFetchFailed classify URL media failures.
var (
	errFetchTooLarge = errors.New("media exceeds the size limit")
	errFetchFailed   = errors.New("media could not be fetched")
)

// mediaFetcher downloads outgoing media given by URL. Unless allowed, it
// refuses loopback, private and link-local addresses — checked on the
// address actually dialled, so DNS tricks and redirects cannot reach the
// internal network.
type mediaFetcher struct {
	client *http.Client
	max    int64
}

func newMediaFetcher(allowPrivate bool, timeout time.Duration, max int64) *mediaFetcher {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || !publicIP(ip) {
				return fmt.Errorf("refusing to fetch media from non-public address %s", host)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would hide the address being dialled
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
	}
	return &mediaFetcher{client: &http.Client{Transport: transport, Timeout: timeout}, max: max}
}

func publicIP(ip net.IP) bool {
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast())
}

// fetch downloads url, reading at most max bytes.
func (f *mediaFetcher) fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetchFailed, err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetchFailed, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered %d", errFetchFailed, req.URL.Host, resp.StatusCode)
	}
	if resp.ContentLength > f.max {
		return nil, fmt.Errorf("%w: %d bytes", errFetchTooLarge, resp.ContentLength)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, f.max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetchFailed, err)
	}
	if int64(len(b)) > f.max {
		return nil, fmt.Errorf("%w: more than %d bytes", errFetchTooLarge, f.max)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty body", errFetchFailed)
	}
	return b, nil
}
