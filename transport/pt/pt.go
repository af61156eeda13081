// Package pt owns samizdat's "pt" transport: any external Tor pluggable
// transport binary (Debian's obfs4proxy, lyrebird, snowflake-client, ...)
// driven through the managed-proxy protocol of the Tor Pluggable Transport
// Specification, version 1 (pt-spec.txt). goptlib implements the PT's side
// of that protocol; this package is the parent's side, the part tor plays.
//
// Client side: StartClient launches the binary with TOR_PT_CLIENT_TRANSPORTS,
// reads its CMETHOD lines, and Dialers reach servers through the SOCKS5 port
// it announced, passing the server's parameters (for obfs4: cert, iat-mode)
// as the SOCKS username/password (pt-spec §3.5). Any transport.Spec whose
// Name is a method the binary runs can be dialed this way; an obfs4 Spec
// dials the same server through obfs4proxy as through transport/obfs4.
//
// Server side: Listen launches the binary with TOR_PT_SERVER_TRANSPORTS and
// TOR_PT_ORPORT pointing at a loopback listener of ours; the PT hands each
// client that completed its handshake to that port, and Accept returns it.
// So a relay can accept obfs4 clients through obfs4proxy too.
//
// The child runs with TOR_PT_EXIT_ON_STDIN_CLOSE=1 and its stdin held open:
// if samizdat dies, the child exits. Close ends it (stdin, SIGTERM,
// SIGKILL). Its stderr and LOG lines go to Config.Log and into error
// messages. See SPEC.md.
package pt
