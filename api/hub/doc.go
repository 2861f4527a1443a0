// Package hub is Tickerboard's streaming engine: how a committed change reaches every
// viewer's socket. api hands it each /events request (Hub.Serve); it owns the stream
// from then on.
//
// The map:
//
//   - The ring (hub.go): Publish encodes each event once (frame.go, with the one SSE
//     encoder in sse.go) into a ring bounded in count and bytes. It is a cache of the
//     Postgres log, not the truth.
//   - The viewer's cursor (stream.go): a stream is a position in the ring and the id
//     the client is current to. It starts with a snapshot (snapshot.go) or a resume
//     (from the ring, else the log, else reset + snapshot), then follows the ring;
//     a stream that falls out of the ring catches up from the log.
//   - Delivery (deliver.go): stream.pick alone decides what a viewer gets next —
//     its filter (filter.go), what it already has, a rewind's reset, conflation for a
//     slow viewer only, a reset that needs a snapshot. stream.send (with a goroutine)
//     and shard.body (parked, bytes shared per filter) only write what it picks.
//   - Parking, an optimisation (takeover.go, fanout.go): a caught-up HTTP/1.1 stream on
//     Linux takes its connection over from net/http and parks in a shard. One worker
//     per shard writes each batch to all its streams with one non-blocking write(2)
//     each (conn*.go); one epoll goroutine notices clients that leave (hangup*.go).
//     Elsewhere (HTTP/2, other systems, WithoutParking) streams keep their goroutine
//     and get the same events.
//
// A stream's states:
//
//	starting ──snapshot/resume──► following ──caught up──► parked
//	               ▲                  │  ▲                    │
//	               │            overrun  └──drained── draining ◄─ socket full,
//	               └──reset──────────┘                          out of the ring, or reset
//	any state ──client left, write failed, Close──► ended (once; frees its slot)
//
// Lifetimes: the owner calls Start before serving and Close when it stops. Close
// ends every stream with a last comment, waits for the engine's goroutines, and cuts
// whatever is still writing when its context ends; Wait returns when every stream has
// ended. No goroutine starts inside a request except the one net/http gives it.
package hub
