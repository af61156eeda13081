// Package reach owns how a samizdat client finds its way to the server: the
// signed endpoint book, the links and QR codes that carry entries, the
// per-client slice of relays, and the dialer that races paths, remembers what
// worked and reconnects in the background.
//
// # Identity
//
// The server has two keys: the securechan X25519 key that clients pin for the
// channel, and an Ed25519 book key that signs endpoints. A ServerID holds
// both, and a server link carries both, so both are pinned from the same
// source. Every entry signature also covers the channel key, so the book key
// vouches only for paths to that one server.
//
// # Book
//
// Each Entry (a direct address, a relay with its transport.Spec, a CDN
// front) expires and is signed on its own (SignedEntry), so it can travel in
// links, QR codes and between contacts and be trusted wherever it came from.
// The server sends each client a Book: its slice of relays plus direct
// addresses and fronts, revocations, a version, all under a book signature.
// The client keeps a Cache that verifies everything, merges by per-entry
// serial, marks user-added entries as unsigned, and serializes to bytes.
//
// # Slices against enumeration
//
// Slice picks, by rendezvous hashing keyed with a server secret, the k relays
// a client gets in a period. A censor running N fake clients learns the
// union of N slices. With independent slices the expected share of R relays
// enumerated is 1-(1-k/R)^N per period; TestSliceEnumeration simulates it
// (R relays, slice k, N colluding clients, P periods; 100 trials, 4 for
// the cases with R·N·P >= 100,000):
//
//	   R   k     N  P   simulated  1-(1-k/R)^(N·P)
//	 100   3    10  1     26.1%      26.3%
//	 100   3    50  1     78.1%      78.2%
//	 100   3   100  1     95.4%      95.2%
//	1000   3   100  1     25.9%      26.0%
//	1000   3   300  1     59.6%      59.4%
//	1000   3   100  4     69.5%      69.9%
//	1000   1   100  1      9.7%       9.5%
//
// So slicing buys a factor, not a wall: the censor needs about R/k·ln(1/(1-s))
// identities to enumerate a share s, and each rotation of the period gives
// every fake client a fresh slice. What bounds N in practice is the cost of
// an identity (the server's rate limits on new accounts) and the period:
// keep periods long (weeks) and let a client whose slice is blocked ask for
// a fresh one only when it has tried all of its own. Relays from contacts
// and invite links (unsigned or signed) never pass through the server's
// slicing and are not exposed to enumeration at all.
//
// # Probation
//
// (The first step; the server's policy now is "The server's
// distribution" below, which keeps the probation bucket.) Slicing alone
// loses to fresh accounts: TestProbationEnumeration measures
// 100% of 50 relays enumerated by 100 fake accounts with slices of 3, and
// 95.6% of 1,000 relays by 1,000. So the server keeps new devices on
// probation (server.ReachConfig.TrustAge, default 3 days; `samizdat server
// --book-trust-age`): a device registered less than TrustAge ago draws its
// slice only from the probation bucket, the tenth of the relays picked by
// Probation (rendezvous hashing under the slice secret, no period, so it
// is stable and the censor cannot compute it). Devices older than that draw
// from the other nine tenths. The same simulation with probation: 10.0% of
// 50 and of 1,000 relays, whatever the number of fresh accounts (the bound
// is max(1, floor(share·R))); server.TestAdversaryEnumerationByFreshAccounts shows
// it through the real FetchBook, and that honest devices registered before
// the censor's accounts are never handed a relay those accounts learned.
//
// What it does not stop: a censor patient enough to age its accounts past
// TrustAge gets ordinary slices, and the 1-(1-k/R)^N of the table above
// applies to those aged accounts. Its price is time and the server's limits
// on registrations per address; the next step is Lox's, where leaving
// probation also needs an invitation from a trusted user or a history of
// unblocked relays (the server's distribution, below, now asks for the
// invitation). A new honest user meanwhile has the direct and front entries of its link, the
// probation bucket, and relays its contacts pass on (never sliced).
//
// # Distribution against enumeration
//
// Probation alone does not hold once blocked relays are detected and
// replaced, or once fake accounts age. Distribution is the policy with both
// answers, and TestAdversaryEnumeration100 simulates it: 50 relays; 20
// honest users registered a month before; 10 honest newcomers, one every
// two days, each invited by one of them and handed its inviter's relays;
// 100 fake self-registered accounts joining one every 5 hours and fetching
// their book every 6 hours; 30 days. The censor blocks every relay a fake
// account learns, at once (eager) or only from day 21 on, once its
// accounts have aged (patient). The server learns a relay is blocked 6
// hours after the censor blocks it and hands blocked relays to nobody, so
// a client whose relays were blocked gets replacements on its next fetch.
// Books hold 3 relays; probation is 72 hours and a tenth of the relays;
// trusted slices rotate weekly.
//
//	policy                               censor   burned  honest hours without a relay
//	today: age only, bucket refilled     eager    50/50   17,380
//	today: age only, bucket refilled     patient  50/50    6,450
//	Lox-like: invitation, fixed bucket   eager     5/50        0
//	Lox-like: invitation, fixed bucket   patient   5/50        0
//
// Today's policy loses everything two ways: each time the server replaces
// a blocked probation relay, the next fresh account learns the replacement
// (the bucket is recomputed over the relays still open), and every fake
// account older than TrustAge is handed trusted slices. The Lox-like
// policy (Distribution.NeedInvite, FixedBucket) closes both: leaving
// probation needs an invitation from a trusted account as well as age
// (Lox's trust levels, reduced to two), so self-registered accounts stay
// on probation however patient the censor is; and the bucket is drawn over
// every relay ever published, its blocked members staying in it, so
// blocking it never widens what new accounts learn. Replacements come from
// the trusted relays and go to trusted accounts only. The cost falls on
// honest newcomers: their first days run on their inviter's relays (and the
// link's direct and front entries), the probation bucket being burned.
//
// Not modelled: a censor that gets invited by honest users (each such
// account learns one trusted slice, the 1-(1-k/R)^N above with N the
// accounts it infiltrated), and proof of work for fresh accounts (the
// fixed bucket already bounds what they learn; it would only slow them).
//
// # The server's distribution
//
// server/distribution.go applies Distribution with NeedInvite and
// FixedBucket, and three things the simulation does not have:
//
//   - Invitations (invite.go): a token MAC'd under a key derived from the
//     slice secret, naming its issuer (an account ID, or zero for the
//     operator's `samizdat server invite`), single-use, with an expiry.
//     Trusted accounts ask for a few per week (wire RequestInvitation);
//     the new user redeems it (RedeemInvitation) and the server records
//     the inviter. Accounts older than the ledger count as invited.
//   - Kept books and a reveal rate: the relays handed to an account are
//     recorded; asking again (fetching, a second device) shows the same
//     ones (Reveal: rendezvous hashing over the pool minus what it holds,
//     no period). It gets new ones only while it holds fewer than k live
//     relays of its pool, at most k plus one per RevealEvery since its
//     first. Trusted slices therefore do not rotate.
//   - Blocked relays come from the clients: a connected client checks the
//     signed relays of its book that have not worked lately and reports
//     the ones that fail while its session works (ReportBlocked). Reports
//     count only from trusted accounts and only for relays the server
//     handed them; a reported relay leaves the reporter's own book (its
//     replacement waits for the reveal rate, so reporting shows nothing
//     sooner than waiting), and a relay reported by ReportThreshold
//     independent accounts (an inviter and the accounts it invited count
//     as one) is revoked in every holder's book and handed to no one.
//
// server.TestAdversaryEnumeration100 runs the scenario through the real
// server (5 of 50 burned, the bucket; every invited user with 3 live
// relays), TestAdversaryFalseBlockReports and
// TestAdversaryFreshAccountWidens the attacks on reports and on the
// bucket. The lab's enumeration-100 (docs/lab.md) runs it over real
// processes: with a bucket of a twentieth (--book-probation-share 0.05),
// 2 of the 50 pool relays burned and both users on pool relays of invited
// users, with the server's direct address blocked.
//
// # Dialing
//
// Racer dials candidates Happy-Eyeballs style (staggered starts, first one
// wins, losers cancelled and closed), tries first what worked on the current
// network, and backs off failed paths with jittered exponential delays
// (clock and randomness injected). Keeper runs a Racer in a loop owned by a
// context and reports the path in use and since when. Neither imports a
// concrete transport: a DialerFactory supplied by the caller turns a
// Candidate into a transport.Dialer. SOCKS5 and HTTP CONNECT clients
// (ProxyFromURL) give any transport's TCP step a way out through the user's
// proxy.
package reach
