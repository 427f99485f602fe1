// Package backchannel is everything the authorization server tells others after the fact,
// over channels it opens itself or that others poll:
//
//   - backchannel/logout: OpenID Connect Back-Channel Logout 1.0 logout tokens and their
//     delivery from a durable outbox (store.LogoutOutboxStore) with retries, and Front-Channel
//     Logout 1.0 iframe URLs.
//   - backchannel/secevent: the wire format of revocation Security Event Tokens (RFC 8417),
//     shared by the transmitter and every receiver.
//   - backchannel/ssf: the Shared Signals Framework transmitter: stream management and RFC 8936
//     poll delivery of the store's revocation event log to gateways.
//   - backchannel/ssfreceiver: the gateway side: a stream subscription that keeps a bounded
//     set of revoked tokens, grants and sessions.
//
// None of it imports Caddy; authserver calls into it and caddymodule wires it up.
package backchannel
