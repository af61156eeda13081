// Package e2e holds the messaging core's end-to-end proofs: tests that
// build the samizdat binary and run real server, CLI and load-generator
// processes over real TCP on 127.0.0.1 (two users both ways with an offline
// recipient and a second device, a group of three; kill -9 of the server
// under a stream of sends; what a seized server directory holds; bad input
// from another process). It has no non-test code.
package e2e
