package lab

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/censor"
)

// CensorAction is one kind of thing the censor did to one subject (a user,
// or "all" for actions on endpoints and address ranges): how often, on how
// many flows, first and last, in ms since the censor went live.
type CensorAction struct {
	Subject string `json:"subject"`
	Rule    string `json:"rule"`
	Action  string `json:"action"` // a kind from classifyAction
	Events  int    `json:"events"`
	Flows   int    `json:"flows"`            // distinct flows (0: not about flows)
	Target  string `json:"target,omitempty"` // the endpoint, for endpoint blocks
	First   int64  `json:"first_ms"`
	Last    int64  `json:"last_ms"`
}

// TimelineEntry is one line of a user's timeline: the path it took or
// lost, or a censor action that hit it (repeats within a second merged).
type TimelineEntry struct {
	T         int64  `json:"t_ms"`
	Kind      string `json:"kind"` // "path up", "path down", "book" or "censor"
	Transport string `json:"transport,omitempty"`
	Path      string `json:"path,omitempty"` // "tlsws via relay r1", "direct"
	Rule      string `json:"rule,omitempty"`
	Action    string `json:"action,omitempty"` // censor: a kind from classifyAction
	What      string `json:"what"`
	Count     int    `json:"count,omitempty"`
}

// SeriesPoint is one second of the run: numbered messages sent and
// delivered in it (by time of arrival).
type SeriesPoint struct {
	Second    int `json:"second"`
	Sent      int `json:"sent"`
	Delivered int `json:"delivered"`
}

// The kinds of censor action, from the engine's event texts.
const (
	actRefused   = "refused connections"
	actSYN       = "dropped connection attempts"
	actReset     = "reset flows"
	actDropped   = "dropped traffic"
	actStalled   = "stalled flows"
	actThrottled = "throttled flows"
	actDenied    = "denylisted flows"
	actEndpoint  = "blocked endpoints"
	actStage     = "blocklisted address ranges"
	actRecorded  = "recorded flows for probing"
	actProbed    = "probed endpoints"
	actEnumerate = "asked for relays with fake accounts"
)

// actionPatterns map an engine event's text to what it did, first match
// wins.
var actionPatterns = []struct {
	match  func(what, text string) bool
	text   string
	action string
}{
	{strings.HasPrefix, "flow refused", actRefused},
	{func(w, t string) bool { return w == t }, "SYN dropped", actSYN},
	{strings.Contains, "stall=true", actStalled},
	{strings.Contains, ": reset", actReset},
	{strings.Contains, ": drop", actDropped},
	{strings.HasPrefix, "throttling", actThrottled},
	{strings.HasPrefix, "denylisted", actDenied},
	{strings.HasPrefix, "blocked ", actEndpoint},
	{strings.HasPrefix, "stage ", actStage},
	{strings.HasPrefix, "recorded first packet", actRecorded},
	{strings.Contains, " probe: ", actProbed},
	{strings.HasPrefix, "fake client", actEnumerate},
}

// classifyAction names what an engine event did; hit is false for events
// that change nothing for the flow (a segment judged and passed).
func classifyAction(ev censor.Event) (action string, hit bool) {
	for _, p := range actionPatterns {
		if p.match(ev.What, p.text) {
			return p.action, true
		}
	}
	return "", false
}

// subjectOf is the user an event concerns, "all" for address ranges and
// endpoints, or "" for an event about none of the users (a fake client's
// flow, say).
func subjectOf(ev censor.Event, users map[netip.Addr]string) string {
	if ev.Flow.Client.IsValid() {
		return users[ev.Flow.Client.Addr()]
	}
	return "all"
}

// censorActions sums the engine's log during the run by subject, rule and
// kind of action.
func censorActions(events []censor.Event, users map[netip.Addr]string, in reportInput) []CensorAction {
	type key struct{ subject, rule, action, target string }
	idx := map[key]int{}
	flows := map[key]map[censor.FlowKey]bool{}
	var out []CensorAction
	for _, ev := range events {
		action, hit := classifyAction(ev)
		subject := subjectOf(ev, users)
		if !hit || subject == "" || ev.At.After(in.tEnd) {
			continue
		}
		k := key{subject: subject, rule: ev.Rule, action: action}
		if action == actEndpoint || action == actProbed {
			k.target = ev.Flow.Server.String()
		}
		t := ev.At.Sub(in.t0).Milliseconds()
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			flows[k] = map[censor.FlowKey]bool{}
			out = append(out, CensorAction{Subject: subject, Rule: ev.Rule, Action: action, Target: k.target, First: t})
		}
		out[i].Events++
		out[i].Last = t
		if ev.Flow.Client.IsValid() && !flows[k][ev.Flow] {
			flows[k][ev.Flow] = true
			out[i].Flows++
		}
	}
	return out
}

// userTimelines gives each user its path changes and the censor actions
// that hit it: on its own flows, on every user ("all"), and endpoint
// blocks of endpoints it knew.
func userTimelines(r *Report, events []censor.Event, users map[netip.Addr]string, in reportInput) map[string][]TimelineEntry {
	out := map[string][]TimelineEntry{}
	for _, p := range r.PathLog {
		e := TimelineEntry{T: p.T, Kind: "path down", What: strings.TrimPrefix(p.What, "down ")}
		if rest, ok := strings.CutPrefix(p.What, "up "); ok {
			e = TimelineEntry{T: p.T, Kind: "path up", Transport: p.Transport, Path: pathName(p.Transport, rest), What: rest}
		}
		out[p.User] = append(out[p.User], e)
	}
	for _, b := range r.BookLog {
		out[b.User] = append(out[b.User], TimelineEntry{T: b.T, Kind: "book", What: b.What})
	}
	for i := range in.streams {
		name := userName(i)
		for _, ev := range events {
			action, hit := classifyAction(ev)
			if !hit || ev.At.After(in.tEnd) || !hits(ev, action, name, users, r.Known[name]) {
				continue
			}
			t := ev.At.Sub(in.t0).Milliseconds()
			tl := out[name]
			if n := len(tl); n > 0 && tl[n-1].Kind == "censor" && tl[n-1].Rule == ev.Rule && tl[n-1].Action == action && t-tl[n-1].T < 1000 {
				tl[n-1].Count++
				continue
			}
			out[name] = append(tl, TimelineEntry{T: t, Kind: "censor", Rule: ev.Rule, Action: action, What: ev.What, Count: 1})
		}
		sort.SliceStable(out[name], func(a, b int) bool { return out[name][a].T < out[name][b].T })
	}
	return out
}

// hits reports whether ev concerns user: its own flow, an address range
// stage, or a block of an endpoint the user knew.
func hits(ev censor.Event, action, user string, users map[netip.Addr]string, known []string) bool {
	switch {
	case ev.Flow.Client.IsValid():
		return users[ev.Flow.Client.Addr()] == user
	case action == actStage:
		return true
	case action == actEndpoint:
		for _, k := range known {
			if k == ev.Flow.Server.String() {
				return true
			}
		}
	}
	return false
}

// pathName says a path the way a person would: "tlsws via relay r1" for
// `relay "r1" (tlsws)`, "direct" for the server's own address.
func pathName(transport, path string) string {
	kind, rest, _ := strings.Cut(path, " ")
	if transport == "" {
		transport = kind
	}
	if kind == "relay" {
		label, _, _ := strings.Cut(strings.TrimPrefix(rest, `"`), `"`)
		return transport + " via relay " + label
	}
	return transport
}

// deliverySeries counts the sends and deliveries of each second of the
// run and the drain.
func deliverySeries(r *Report) []SeriesPoint {
	last := time.Duration(r.Duration).Milliseconds()
	for _, d := range r.Deliveries {
		last = max(last, d.T)
	}
	if last < 0 {
		return nil
	}
	out := make([]SeriesPoint, last/1000+1)
	for i := range out {
		out[i].Second = i
	}
	for _, p := range r.Sends {
		if p.T >= 0 && p.T/1000 < int64(len(out)) {
			out[p.T/1000].Sent++
		}
	}
	for _, p := range r.Deliveries {
		if p.T >= 0 {
			out[p.T/1000].Delivered++
		}
	}
	return out
}

// humanDuration writes d for a person: "250 ms", "1.5 s", "1 min 30 s",
// "2 h 5 min".
func humanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + humanDuration(-d)
	}
	switch {
	case d == 0:
		return "0 s"
	case d.Round(time.Millisecond) < time.Second:
		return strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10) + " ms"
	case d.Round(10*time.Millisecond) < time.Minute:
		// Hundredths as an integer: a float's Seconds() prints 1.57 s as
		// 1.5699999999999998.
		cs := int64(d.Round(10*time.Millisecond) / (10 * time.Millisecond))
		frac := strings.TrimRight(fmt.Sprintf("%02d", cs%100), "0")
		if frac == "" {
			return strconv.FormatInt(cs/100, 10) + " s"
		}
		return strconv.FormatInt(cs/100, 10) + "." + frac + " s"
	case d.Round(time.Second) < time.Hour:
		d = d.Round(time.Second)
		return joinUnits(int64(d/time.Minute), "min", int64(d%time.Minute/time.Second), "s")
	}
	d = d.Round(time.Minute)
	return joinUnits(int64(d/time.Hour), "h", int64(d%time.Hour/time.Minute), "min")
}

func joinUnits(big int64, bigUnit string, small int64, smallUnit string) string {
	if small == 0 {
		return fmt.Sprintf("%d %s", big, bigUnit)
	}
	return fmt.Sprintf("%d %s %d %s", big, bigUnit, small, smallUnit)
}

// at writes a time on the run's clock ("+1.5 s", "-2 s" before the censor
// went live).
func at(ms int64) string {
	if ms < 0 {
		return humanDuration(time.Duration(ms) * time.Millisecond)
	}
	return "+" + humanDuration(time.Duration(ms)*time.Millisecond)
}
