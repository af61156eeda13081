package lab

// designs says, per scenario, which of the lab's paths (labRelays and the
// server's direct address) the censor leaves open by design: the path the
// client must find by itself. The report carries it; whether a path was
// in fact open at a block event is decided from the censor's own events
// (paths.go), not from this text.
var designs = map[string]string{
	"russia-2018-ip-blocking":  "direct server blocked at 0 s, cloud A (tlsws, direct relays) at 15 s, cloud B (obfs4) and foreign hosting (tlsws) at 30 s; the CDN front (tlsws, cdn.lab.example, 198.19.0.2), which the server link carries, is never blocked",
	"russia-2021-throttling":   "only SNIs twitter.com, twimg.com, t.co, front.lab.example are throttled; no lab path uses them (tlsws relays send relay-a/relay-f/cdn.lab.example), so every path stays at full speed",
	"gfw-2023-fully-encrypted": "direct server, direct relay and obfs4 first packets meet no exemption: each new flow blocked with p = 0.263 and the triple for 180 s; tlsws relays start like TLS (Ex5) and always pass",
	"gfw-2020-active-probing":  "random-looking flows (direct server, direct relay, obfs4) are recorded and probed; their endpoints answer unlike the web server and are blocked; tlsws relays are never recorded (their first packet is a TLS hello) and answer probes like their cover site, Debian's nginx",
	"tspu-2026-ja4":            "the JA4 denylist holds the MTProto fake-TLS fingerprint; tlsws sends current Chrome's hello (another JA4), the other transports send no hello: no lab path is blocked",
	"stall-16k":                "flows to foreign hosting (the foreign tlsws relay) freeze after 16-20 KB; the server and every other relay are outside 198.18.64.0/18",
	"allowlist":                "only 198.19.0.0/16 and SNIs cdn.lab.example, vk.com pass: the CDN front (tlsws to 198.19.0.2, SNI cdn.lab.example) is the one path left; every other path is dropped",
	"analyst-2026":             "only the two hellos of the lab machine's Chromium pass (tlsws sends them); direct and obfs4 are reset; a tunnel whose client sends three records of 411 bytes or more early is black-holed (tlsws's shaped records stay under 411); every TLS endpoint is probed and compared with the reference, Debian's nginx serving the cover site (standalone relays splice probes to it); UDP is dropped",
	"analyst-2026-classifier":  "only the two hellos of the lab machine's Chromium pass (tlsws sends them); direct and obfs4 are reset; a tunnel whose client sends three records of 411 bytes or more early is black-holed (tlsws's shaped records stay under 411); a flow whose first five records from the client's Finished score as a tunnel to the classifier trained on Chromium browsing the cover site (inner-shape, 1% of Chromium flows blocked) is black-holed: tlsws passes only if its openings and its relay's answers look like that browsing (its relays replay Chromium's connections to the cover site, recorded with samizdat relay record-shape); every TLS endpoint is probed and compared with the reference, Debian's nginx serving the cover site (standalone relays splice probes to it); UDP is dropped",
	"enumeration":              "50 fake accounts (fresh devices, from the censor's range) fetch their slice of the book plus the link's front, and every relay they learn is blocked; the server's direct address is not enumerated (the IP blocklist's business) and stays open",
	"enumeration-100":          "100 fake accounts, never invited and so on probation however old, learn the link's entries and the fixed probation bucket (a tenth of the 55 relays) and block them, and the server's direct address is blocked; users, invited by the operator, hold relays of invited users, which no fake account is handed, report the blocked relays of their first book and see them revoked",
}
