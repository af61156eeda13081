package lab

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/censor"
)

// Duration is written as a Go duration string in reports.
type Duration = censor.Duration

// Report is the outcome of one run.
type Report struct {
	Scenario   string              `json:"scenario"`
	Title      string              `json:"title"`
	Quick      bool                `json:"quick"`
	Duration   Duration            `json:"duration"`
	Users      int                 `json:"users"`
	Every      Duration            `json:"every"`
	Transports []string            `json:"transports"`       // of the paths the users connected through during the run
	Offered    []string            `json:"transports_known"` // of every path the users knew
	Endpoints  []string            `json:"endpoints"`
	Relays     int                 `json:"relays"`
	RelayList  []string            `json:"relay_list"`
	Design     string              `json:"design"`      // which path should survive this censor, by design
	Known      map[string][]string `json:"known_paths"` // per user
	PathLog    []PathChange        `json:"path_changes"`
	// BookLog: what the users' endpoint books changed after they reported
	// relays blocked (client.BookChange), "What" its text.
	BookLog []PathChange `json:"book_changes,omitempty"`
	Burned  []string     `json:"relays_burned_list,omitempty"`

	Sent           int      `json:"sent"`
	DeliveredInRun int      `json:"delivered_in_run"`
	DeliveryRatio  float64  `json:"delivery_ratio"`
	Acked          int      `json:"acked"`
	Unacked        int      `json:"unacked_after_drain"`
	Lost           int      `json:"lost"`
	LostMessages   []string `json:"lost_messages,omitempty"`
	Drain          Duration `json:"drain"`

	BlockEvents     []BlockEvent `json:"block_events"`
	RecoveryWithin  Duration     `json:"recovery_within"`
	RecoveryP50     *Duration    `json:"recovery_p50,omitempty"`
	RecoveryP95     *Duration    `json:"recovery_p95,omitempty"`
	RelaysBurned    int          `json:"relays_burned"`
	EnumeratedShare *float64     `json:"enumerated_share,omitempty"`

	Pass     bool     `json:"pass"`
	Verdict  string   `json:"verdict"`
	KnownGap string   `json:"known_gap,omitempty"` // the scenario's own: why it is expected to fail
	Reasons  []string `json:"reasons,omitempty"`

	// Summary says in one line what the censor did and what the users
	// ended up on; CensorActions, Timelines and Series are its facts.
	Summary       string                     `json:"summary"`
	CensorActions []CensorAction             `json:"censor_actions"`
	Timelines     map[string][]TimelineEntry `json:"user_timelines"`
	Series        []SeriesPoint              `json:"delivery_series"`

	Sends      []Point        `json:"sends"`
	Deliveries []Point        `json:"deliveries"`
	Censor     []CensorRecord `json:"censor_events"`

	Topology    string   `json:"topology"`
	WallTime    Duration `json:"wall_time"`
	Flows       int64    `json:"flows_intercepted"`
	FlowsFailed int64    `json:"flows_failed"`
}

// Point is a send or a delivery on the timeline, in ms since the censor
// went live.
type Point struct {
	T    int64  `json:"t_ms"`
	User string `json:"user"` // sender
	N    int    `json:"n"`
	Lat  int64  `json:"latency_ms,omitempty"` // deliveries: since sent
}

// PathChange is a user's client taking or losing a path, in ms since the
// censor went live.
type PathChange struct {
	T         int64  `json:"t_ms"`
	User      string `json:"user"`
	What      string `json:"what"`                // "up PATH" or "down REASON"
	Transport string `json:"transport,omitempty"` // of the path taken ("up")
}

// CensorRecord is an engine event, in ms since the censor went live.
type CensorRecord struct {
	T    int64  `json:"t_ms"`
	Rule string `json:"rule"`
	Flow string `json:"flow,omitempty"`
	What string `json:"what"`
}

// BlockEvent is a cluster of censor actions against one user (or all): it
// starts at the first; a later one joins it if it comes within clusterGap
// or before anything was delivered to or from that user again (one
// outage, however many reconnects the censor refused).
type BlockEvent struct {
	At       Duration  `json:"at"` // since the censor went live
	Subject  string    `json:"subject"`
	Rule     string    `json:"rule"`
	What     string    `json:"what"`
	Count    int       `json:"count"`
	Recovery *Duration `json:"recovery,omitempty"` // nil: not recovered in the run
	PathOpen bool      `json:"unblocked_path"`
	Judged   string    `json:"judged"`
}

// clusterGap merges censor actions against one subject into one event.
const clusterGap = 10 * time.Second

type reportInput struct {
	t0, tEnd, tDrained time.Time
	duration           time.Duration
	link               string
	streams            []*userStream
	engine             *censor.Engine
	rules              []censor.Rule
	endpoints          []netip.AddrPort            // every endpoint of the topology
	known              map[string][]netip.AddrPort // per user, what its client knew
	relays             []labRelay
	learned            []netip.AddrPort // by the enumerator's fake clients
	enumerating        bool
	design             string
}

type msgKey struct {
	from string
	n    int
}

// messages are the numbered messages of a run, by sender and number.
type messages struct {
	sentAt, ackedAt, recvAt map[msgKey]time.Time
	recvBy                  map[msgKey]string // who received it
}

// delivered reports whether a message to or from subject ("all": anyone)
// arrived in (a, b].
func (m *messages) delivered(subject string, a, b time.Time) bool {
	for k, at := range m.recvAt {
		if at.After(a) && !at.After(b) && (subject == "all" || k.from == subject || m.recvBy[k] == subject) {
			return true
		}
	}
	return false
}

// buildReport turns what the users and the censor logged into the report:
// the messages and their fate, the paths used, what the censor did and to
// whom, each block event judged against the recovery threshold, a summary
// and the verdict.
func buildReport(sc *censor.Scenario, o Options, in reportInput) *Report {
	r, offered := newReport(sc, o, in)
	used := map[string]bool{}
	msgs := collectStreams(r, in, used)
	countMessages(r, in, msgs)
	pathsAtStart(in, used)
	r.Transports, r.Offered = sortedKeys(used), sortedKeys(offered)

	users := map[netip.Addr]string{}
	for i := range in.streams {
		users[userAddr(i)] = userName(i)
	}
	events := in.engine.Events()
	recordCensor(r, events, in.t0)
	paths := newPathModel(sc, in, users)
	countBurned(r, in, paths)
	countEnumerated(r, in)
	r.BlockEvents = clusterBlocks(events, users, in.tEnd, in.t0, msgs.delivered)
	judgeBlocks(r, sc, in, msgs, paths)
	judgePool(r, sc.PoolRelays)

	r.CensorActions = censorActions(events, users, in)
	r.Timelines = userTimelines(r, events, users, in)
	r.Series = deliverySeries(r)
	r.Summary = summarize(r)
	r.KnownGap = sc.KnownGap
	setVerdict(r)
	return r
}

// newReport fills in the run's settings, its relays and the paths each
// user knew; offered is the set of transports known.
func newReport(sc *censor.Scenario, o Options, in reportInput) (r *Report, offered map[string]bool) {
	r = &Report{Scenario: sc.Name, Title: sc.Title, Quick: o.Quick, Duration: Duration(in.duration),
		Users: len(in.streams), Every: Duration(o.Every), Relays: len(in.relays), Design: in.design, Known: map[string][]string{},
		RecoveryWithin: sc.Recovery.Within, Drain: Duration(in.tDrained.Sub(in.tEnd).Round(time.Millisecond))}
	for _, ep := range in.endpoints {
		r.Endpoints = append(r.Endpoints, ep.String())
	}
	for _, rl := range in.relays {
		r.RelayList = append(r.RelayList, fmt.Sprintf("%s %s %s", rl.Name, rl.Transport, rl.endpoint()))
	}
	offered = map[string]bool{}
	for name, eps := range in.known {
		for _, ep := range eps {
			t := "direct"
			for _, rl := range in.relays {
				if rl.endpoint() == ep {
					t = rl.Transport
				}
			}
			offered[t] = true
			r.Known[name] = append(r.Known[name], ep.String())
		}
	}
	return r, offered
}

// collectStreams reads every user's events: sends, acknowledgements,
// receipts and path changes; used gets the transports taken during the run.
func collectStreams(r *Report, in reportInput, used map[string]bool) *messages {
	m := &messages{sentAt: map[msgKey]time.Time{}, ackedAt: map[msgKey]time.Time{}, recvAt: map[msgKey]time.Time{}, recvBy: map[msgKey]string{}}
	ms := func(t time.Time) int64 { return t.Sub(in.t0).Milliseconds() }
	for i, s := range in.streams {
		me := userName(i)
		for _, ev := range s.snapshot() {
			at := time.UnixMilli(ev.T)
			switch ev.Ev {
			case "sent":
				m.sentAt[msgKey{me, ev.N}] = at
				r.Sends = append(r.Sends, Point{T: ms(at), User: me, N: ev.N})
			case "acked":
				m.ackedAt[msgKey{me, ev.N}] = at
			case "path":
				r.PathLog = append(r.PathLog, PathChange{T: ms(at), User: me, What: ev.Text, Transport: ev.From})
				if ev.From != "" && !at.Before(in.t0) && !at.After(in.tEnd) {
					used[ev.From] = true
				}
			case "book":
				r.BookLog = append(r.BookLog, PathChange{T: ms(at), User: me, What: ev.Text})
			case "recv":
				k := msgKey{ev.From, ev.N}
				if _, dup := m.recvAt[k]; ev.N > 0 && !dup {
					m.recvAt[k] = at
					m.recvBy[k] = me
				}
			}
		}
	}
	for k, at := range m.recvAt {
		p := Point{T: ms(at), User: k.from, N: k.n}
		if s, ok := m.sentAt[k]; ok {
			p.Lat = at.Sub(s).Milliseconds()
		}
		r.Deliveries = append(r.Deliveries, p)
	}
	sort.Slice(r.Deliveries, func(i, j int) bool { return r.Deliveries[i].T < r.Deliveries[j].T })
	return m
}

// countMessages counts what was sent, acknowledged, delivered in the run
// and lost (acknowledged and never delivered).
func countMessages(r *Report, in reportInput, m *messages) {
	r.Sent = len(m.sentAt)
	r.Acked = len(m.ackedAt)
	for k := range m.sentAt {
		if at, ok := m.recvAt[k]; ok && !at.After(in.tEnd) {
			r.DeliveredInRun++
		}
		if _, ok := m.ackedAt[k]; !ok {
			r.Unacked++
		}
	}
	for k := range m.ackedAt {
		if _, ok := m.recvAt[k]; !ok {
			r.Lost++
			r.LostMessages = append(r.LostMessages, fmt.Sprintf("%s#%d", k.from, k.n))
		}
	}
	sort.Strings(r.LostMessages)
	if r.Sent > 0 {
		r.DeliveryRatio = float64(r.DeliveredInRun) / float64(r.Sent)
	}
}

// pathsAtStart: the path in use when the censor went live counts as used
// too, unless it went down within a second (the censor cuts every flow
// when it comes up).
func pathsAtStart(in reportInput, used map[string]bool) {
	for _, s := range in.streams {
		last, cut := "", false
		for _, ev := range s.snapshot() {
			at := time.UnixMilli(ev.T)
			if ev.Ev != "path" {
				continue
			}
			if at.Before(in.t0) {
				last = ev.From
			} else if at.Before(in.t0.Add(time.Second)) && strings.HasPrefix(ev.Text, "down") {
				cut = true
			}
		}
		if last != "" && !cut {
			used[last] = true
		}
	}
}

// recordCensor keeps the engine's log (the first 2000 events).
func recordCensor(r *Report, events []censor.Event, t0 time.Time) {
	for _, ev := range events {
		rec := CensorRecord{T: ev.At.Sub(t0).Milliseconds(), Rule: ev.Rule, What: ev.What}
		if ev.Flow.Client.IsValid() || ev.Flow.Server.IsValid() {
			rec.Flow = ev.Flow.String()
		}
		r.Censor = append(r.Censor, rec)
		if len(r.Censor) == 2000 {
			break
		}
	}
}

// countBurned counts the relays the censor blocked during the run.
func countBurned(r *Report, in reportInput, paths *pathModel) {
	for _, rl := range in.relays {
		burned := false
		for _, st := range paths.stages {
			if st.at.After(in.tEnd) {
				continue
			}
			for _, p := range st.prefixes {
				burned = burned || p.Contains(rl.Addr)
			}
		}
		for _, b := range paths.epBlocks {
			burned = burned || b.ep == rl.endpoint() && !b.from.After(in.tEnd)
		}
		if burned {
			r.RelaysBurned++
			r.Burned = append(r.Burned, rl.Name)
		}
	}
}

// countEnumerated is the share of relays the enumerator's fake clients
// learned.
func countEnumerated(r *Report, in reportInput) {
	if !in.enumerating || len(in.relays) == 0 {
		return
	}
	n := 0
	for _, rl := range in.relays {
		for _, ep := range in.learned {
			if ep == rl.endpoint() {
				n++
				break
			}
		}
	}
	share := float64(n) / float64(len(in.relays))
	r.EnumeratedShare = &share
}

// judgeBlocks measures each block event's recovery and judges it against
// the scenario's threshold, given whether an unblocked path existed.
func judgeBlocks(r *Report, sc *censor.Scenario, in reportInput, m *messages, paths *pathModel) {
	within := time.Duration(sc.Recovery.Within)
	var recoveries []time.Duration
	for i := range r.BlockEvents {
		b := &r.BlockEvents[i]
		tb := in.t0.Add(time.Duration(b.At))
		affected := []string{b.Subject}
		if b.Subject == "all" {
			affected = nil
			for i := range in.streams {
				affected = append(affected, userName(i))
			}
		}
		rec, ok := recoveredAt(tb, in.tEnd, affected, m.sentAt, m.recvAt, m.recvBy)
		if ok {
			d := Duration(rec.Sub(tb).Round(time.Millisecond))
			b.Recovery = &d
			recoveries = append(recoveries, time.Duration(d))
		}
		check := tb.Add(within)
		if check.After(in.tEnd) {
			check = in.tEnd
		}
		b.PathOpen = paths.open(affected, tb.Add(time.Second)) && paths.open(affected, check)
		switch {
		case ok && rec.Sub(tb) <= within:
			b.Judged = "recovered in time"
		case !b.PathOpen:
			b.Judged = "no unblocked path"
		case !ok && tb.Add(within).After(in.tEnd):
			b.Judged = "run ended before the threshold"
		default:
			b.Judged = "too slow"
			r.Reasons = append(r.Reasons, fmt.Sprintf("block at %s (%s, %s): delivery did not recover within %s while an unblocked path existed",
				humanDuration(time.Duration(b.At)), b.Rule, b.Subject, humanDuration(within)))
		}
	}
	if len(recoveries) > 0 {
		p50, p95 := Duration(percentile(recoveries, 0.50)), Duration(percentile(recoveries, 0.95))
		r.RecoveryP50, r.RecoveryP95 = &p50, &p95
	}
	if r.Lost > 0 {
		r.Reasons = append(r.Reasons, fmt.Sprintf("%d acknowledged messages lost: %s", r.Lost, strings.Join(r.LostMessages, " ")))
	}
	if r.Sent == 0 {
		r.Reasons = append(r.Reasons, "no message was sent")
	}
	if min := sc.Recovery.MinDelivery; min > 0 && r.Sent > 0 && r.DeliveryRatio < min {
		r.Reasons = append(r.Reasons, fmt.Sprintf("delivery ratio %.3f below the scenario's minimum %.2f: a path was left open by design and the users did not keep to it",
			r.DeliveryRatio, min))
	}
}

// setVerdict passes a run with no reasons to fail it.
func setVerdict(r *Report) {
	r.Pass = len(r.Reasons) == 0
	r.Verdict = "fail"
	if !r.Pass {
		if r.KnownGap != "" {
			r.Verdict = "fail (known gap)"
		}
		return
	}
	r.Verdict = "pass"
	for _, b := range r.BlockEvents {
		if b.Judged == "no unblocked path" {
			r.Verdict = "pass (no unblocked path: recovery not testable)"
			return
		}
	}
}

// recoveredAt is when every affected user was through again after tb: a
// message each one sent at or after tb arrived, and a message sent at or
// after tb arrived at each.
func recoveredAt(tb, tEnd time.Time, affected []string, sentAt, recvAt map[msgKey]time.Time, recvBy map[msgKey]string) (time.Time, bool) {
	var worst time.Time
	for _, u := range affected {
		var out, in time.Time
		for k, s := range sentAt {
			at, ok := recvAt[k]
			if !ok || s.Before(tb) || at.After(tEnd) {
				continue
			}
			if k.from == u && (out.IsZero() || at.Before(out)) {
				out = at
			}
			if recvBy[k] == u && (in.IsZero() || at.Before(in)) {
				in = at
			}
		}
		if out.IsZero() || in.IsZero() {
			return time.Time{}, false
		}
		worst = later(worst, later(out, in))
	}
	return worst, !worst.IsZero()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// clusterBlocks turns engine events into block events: blocklist stages and
// endpoint blocks hit everyone; refused flows, dropped, reset or stalled
// segments and throttling hit the user whose flow it was. Follow-up drops
// on a flow already dead are not new events.
func clusterBlocks(events []censor.Event, users map[netip.Addr]string, tEnd, t0 time.Time, delivered func(subject string, a, b time.Time) bool) []BlockEvent {
	var out []BlockEvent
	last := map[string]int{} // subject -> index in out
	lastAt := map[string]time.Time{}
	for _, ev := range events {
		if ev.At.After(tEnd) {
			continue
		}
		subject := ""
		switch {
		case !ev.Flow.Client.IsValid():
			if ev.Rule == "ip-blocklist" && strings.HasPrefix(ev.What, "stage") ||
				ev.Rule == "endpoint-block" && strings.HasPrefix(ev.What, "blocked") {
				subject = "all"
			}
		default:
			name, ok := users[ev.Flow.Client.Addr()]
			if !ok || ev.Rule == "black-hole" {
				break
			}
			w := ev.What
			if strings.Contains(w, "flow refused") || strings.Contains(w, "SYN dropped") ||
				strings.Contains(w, ": drop") && ev.Rule != "stall" || strings.Contains(w, ": reset") ||
				strings.Contains(w, "stall=true") || strings.HasPrefix(w, "throttling") {
				subject = name
			}
		}
		if subject == "" {
			continue
		}
		if i, ok := last[subject]; ok && (ev.At.Sub(lastAt[subject]) <= clusterGap || !delivered(subject, lastAt[subject], ev.At)) {
			out[i].Count++
			lastAt[subject] = ev.At
			continue
		}
		out = append(out, BlockEvent{At: Duration(ev.At.Sub(t0).Round(time.Millisecond)), Subject: subject, Rule: ev.Rule, What: ev.What, Count: 1})
		last[subject] = len(out) - 1
		lastAt[subject] = ev.At
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
