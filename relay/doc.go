// Package relay owns the volunteer relay: a process that accepts clients on
// one or more camouflaged transports and, for every connection that
// authenticated at the transport, dials one upstream (the server, or
// another relay) and forwards the opaque stream both ways.
//
// # What it carries and what it knows
//
// The stream is the client's securechan channel to the server, end to end:
// the relay holds no key of it and cannot read, forge or usefully drop it
// (acknowledgements are end to end). It cannot authenticate securechan
// either (that needs the server's private key), so authentication at the
// relay is the transport's: tlsws's secret path, obfs4's node key and
// handshake MAC, a PT's own handshake.
//
// The relay stores nothing about users. It writes nothing to disk but its
// own transport keys and, when it mirrors broadcast channels (`samizdat
// relay --mirror-channel`, internal/cli/channel_mirror.go, served by
// channel/channelwire on a listener of its own), the channels' public
// signed posts; it never logs a client address; its metrics are
// aggregate counters. The only per-client state is the per-IP rate limiter's
// token bucket, kept in memory until the bucket has refilled (Rate.Burst /
// Rate.PerSecond seconds) and then dropped.
//
// # Probes, by transport
//
//   - tlsws: probes meet a real web server. Behind nginx or Caddy
//     (tlsws.ListenBehind), the web server answers them; standalone
//     (tlsws.ListenStandalone), every connection whose ClientHello lacks a
//     valid, fresh, unseen mark, replays included, is spliced to the
//     operator's real website. TestAdversaryProbeDifferential compares
//     both with a plain nginx serving the same site. The mode in which
//     tlsws's own Go HTTP server answers probes (tlsws.Listen with a Cover)
//     is for tests and the lab: probes tell it from nginx
//     (TestAdversaryProbeDifferentialGoWebsite; TestProbes compares it
//     with a plain Go HTTPS server only).
//   - obfs4: a failed handshake behaves as lyrebird does for Tor bridges: the
//     server reads and discards for a per-server random delay, then closes;
//     it never answers. lyrebird keeps its own anti-replay cache of
//     handshake MACs (transports/obfs4 replayfilter, checked within the
//     MAC's epoch hour, ±1 h), so a replayed handshake fails the same way.
//     lyrebird exposes neither the MAC nor a hook to hand a failed
//     connection to a cover site, so the relay adds no cache of its own
//     and obfs4 probes get silence, not a website.
//   - pt: whatever the external binary does (obfs4proxy: as obfs4 above).
//   - direct: plain TCP, no authentication possible at the relay. A direct
//     relay is a TCP port forwarder to exactly one upstream: it is not an
//     open proxy to the internet, and a prober sees whatever the upstream
//     server shows an unauthenticated peer (securechan drops a bad first
//     message). The trade-off: a direct relay hides the server's address,
//     and nothing else; anyone who connects can tell it carries samizdat by
//     speaking securechan to it. Use it inside uncensored networks, as a
//     hop between relays, and in tests; use tlsws or obfs4 where a censor
//     probes.
//
// # Limits
//
// New connections are rate limited per source IP (a token bucket; IPv6 by
// /64) and capped in total. Limits apply to connections the transport has
// authenticated (for direct, to every TCP connection), so an over-limit
// client is closed without telling a prober anything. Floods of
// unauthenticated handshakes are bounded by the transports themselves
// (obfs4's MaxPendingHandshakes; tlsws behind a web server: the web
// server's limits; tlsws standalone: each unauthenticated connection holds
// two goroutines and a connection to the cover origin until the origin
// closes it, as the origin would hold it directly); a relay
// under such a flood wants a kernel limit (nftables ct count) in front.
//
// Every goroutine belongs to the context given to Serve.
package relay
