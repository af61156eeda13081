// Package client is samizdat's client library: the account and device
// identities, contacts and their safety numbers, 1:1 chats and groups as MLS
// groups, the durable outbox, the processing of delivered messages, the
// connection to the server, and the local store that keeps all of it
// encrypted at rest.
//
// A Client owns one home directory. Everything sensitive in it (private
// keys, MLS group states, contacts, message plaintexts, the outbox) is
// sealed with XChaCha20-Poly1305 under a random store key, itself wrapped
// under a key derived with Argon2id from the user's passphrase.
//
// Data path: Client.Send encrypts with package mls, stores the ciphertext in
// the outbox in the same transaction as the new group state, and the outbox
// sends it (wire.Send over securechan) until the server acknowledges it as
// durable. Delivered messages are processed in mailbox order, stored, and
// only then acknowledged, so a crash loses nothing.
package client
