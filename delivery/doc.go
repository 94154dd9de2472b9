// Package delivery carries events to webhook endpoints: signing, failure classification, retry timing and an SSRF-safe dialer.
package delivery
