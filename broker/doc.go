// Package broker owns the NATS side of hookstream: the embedded server, the connection, the streams and their
// subjects, and appending events with idempotency and optimistic concurrency.
package broker
