package censor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Scenario is one declarative lab scenario (censor/scenarios/NAME.json): a
// published censorship event, the rules that reproduce it with their
// parameters, its timeline, and the recovery threshold a run must meet.
type Scenario struct {
	Name       string     `json:"name"`
	Title      string     `json:"title"`
	Sources    []Source   `json:"sources"`
	Reproduces string     `json:"reproduces"`
	Seed       uint64     `json:"seed"`
	Duration   Duration   `json:"duration"` // full run
	Quick      Duration   `json:"quick"`    // --quick run, at most about 60 s
	Rules      []RuleSpec `json:"rules"`
	Timeline   []Moment   `json:"timeline"`
	Recovery   Recovery   `json:"recovery"`
	// PoolRelays adds that many relays to the lab's five: one relay
	// process answering on as many addresses, each published in the
	// endpoint book as a relay of its own (0-200).
	PoolRelays int `json:"pool_relays,omitempty"`
	// KnownGap, when set, says why samizdat does not yet survive this
	// scenario. The lab still runs it and reports it failed; its CI test
	// expects the failure and fails when the scenario passes, so a gap
	// can neither hide nor close unnoticed (docs/lab.md, "Known gaps").
	KnownGap string `json:"known_gap,omitempty"`
}

// Source is a publication the scenario's numbers come from.
type Source struct {
	Title string `json:"title"`
	Where string `json:"where"`
	URL   string `json:"url,omitempty"`
}

// Moment is a line of the scenario's timeline.
type Moment struct {
	At   Duration `json:"at"`
	What string   `json:"what"`
}

// Recovery is the pass criterion: once a block hits, delivery must recover
// within Within while an unblocked path exists (Condition says which).
type Recovery struct {
	Within    Duration `json:"within"`
	Condition string   `json:"condition"`
	// MinDelivery, when set, fails a run whose delivery ratio falls below
	// it: for scenarios whose design leaves a path open that only a client
	// doing the right thing can use (a current browser hello, a byte
	// budget), where "the censor blocked every path this client tried" must
	// not pass as "nothing to recover to".
	MinDelivery float64 `json:"min_delivery,omitempty"`
}

// RuleSpec is one rule with its parameters; Type picks which fields apply.
type RuleSpec struct {
	Type string `json:"type"`
	Note string `json:"note,omitempty"`

	Stages      []StageSpec `json:"stages,omitempty"`      // ip-blocklist
	Names       []string    `json:"names,omitempty"`       // sni-denylist, sni-throttle
	Action      string      `json:"action,omitempty"`      // "drop" or "reset"
	Prefixes    []string    `json:"prefixes,omitempty"`    // allowlist
	SNIs        []string    `json:"snis,omitempty"`        // allowlist
	Servers     []string    `json:"servers,omitempty"`     // fully-encrypted, stall, active-prober
	Probability float64     `json:"probability,omitempty"` // fully-encrypted
	Residual    Duration    `json:"residual,omitempty"`    // fully-encrypted
	JA3         []string    `json:"ja3,omitempty"`         // tls-fingerprint
	JA4         []string    `json:"ja4,omitempty"`         // tls-fingerprint
	MinBPS      float64     `json:"min_bps,omitempty"`     // sni-throttle
	MaxBPS      float64     `json:"max_bps,omitempty"`     // sni-throttle
	MinBytes    int         `json:"min_bytes,omitempty"`   // stall
	MaxBytes    int         `json:"max_bytes,omitempty"`   // stall
	Count       string      `json:"count,omitempty"`       // stall: "both" (default) or "s2c"
	MinSize     int         `json:"min_size,omitempty"`    // record-shape
	MinRecords  int         `json:"min_records,omitempty"` // record-shape
	Window      int         `json:"window,omitempty"`      // record-shape, inner-shape
	MaxFPR      float64     `json:"max_fpr,omitempty"`     // inner-shape: browser flows it may block
	Allow       []string    `json:"allow,omitempty"`       // record-shape, ja4-allowlist: destinations never judged
	MaxDelay    Duration    `json:"max_delay,omitempty"`   // active-prober
	Wait        Duration    `json:"wait,omitempty"`        // active-prober
	Records     int         `json:"records_per_endpoint,omitempty"`
	BlockFor    Duration    `json:"block_for,omitempty"` // active-prober, enumeration
	Suspect     string      `json:"suspect,omitempty"`   // active-prober: "fully-encrypted" (default) or "tls"
	Clients     int         `json:"clients,omitempty"`   // enumeration
	Interval    Duration    `json:"interval,omitempty"`  // enumeration
}

// StageSpec is a blocklist stage in a file.
type StageSpec struct {
	After    Duration `json:"after"`
	Label    string   `json:"label"`
	Prefixes []string `json:"prefixes"`
}

// Duration is a time.Duration written as a Go duration string ("180s").
type Duration time.Duration

// UnmarshalJSON parses "1h30m" style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("censor: duration must be a string like \"180s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("censor: parsing duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// ParseScenario decodes and checks a scenario file's contents.
func ParseScenario(data []byte) (*Scenario, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("censor: parsing scenario: %w", err)
	}
	if dec.More() {
		return nil, errors.New("censor: parsing scenario: trailing data")
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("censor: scenario %q: %w", s.Name, err)
	}
	return &s, nil
}

// LoadScenarios reads every *.json file in dir, sorted by name.
func LoadScenarios(dir string) ([]*Scenario, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []*Scenario
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("censor: reading scenario: %w", err)
		}
		s, err := ParseScenario(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		if want := strings.TrimSuffix(filepath.Base(p), ".json"); s.Name != want {
			return nil, fmt.Errorf("censor: %s names itself %q", filepath.Base(p), s.Name)
		}
		out = append(out, s)
	}
	return out, nil
}

func (s *Scenario) check() error {
	switch {
	case s.Name == "" || s.Title == "" || s.Reproduces == "":
		return errors.New("name, title and reproduces are required")
	case len(s.Sources) == 0:
		return errors.New("at least one source is required")
	case len(s.Rules) == 0:
		return errors.New("no rules")
	case s.Duration <= 0 || s.Quick <= 0 || time.Duration(s.Quick) > 90*time.Second:
		return errors.New("duration and quick (at most 90 s) are required")
	case s.Recovery.Within <= 0 || s.Recovery.Condition == "":
		return errors.New("recovery.within and recovery.condition are required")
	case s.PoolRelays < 0 || s.PoolRelays > 200:
		return errors.New("pool_relays must be 0-200")
	}
	for _, src := range s.Sources {
		if src.Title == "" || src.Where == "" {
			return errors.New("every source needs a title and where it was published")
		}
	}
	// Build with placeholder hooks: it checks every rule's parameters.
	_, err := s.Build(placeholderHooks())
	return err
}

// placeholderHooks satisfy Build for checking a file without a harness.
func placeholderHooks() Hooks {
	return Hooks{
		ProbeDial:      func(context.Context, netip.AddrPort) (net.Conn, error) { return nil, errors.New("no harness") },
		ProbeReference: func(context.Context) (net.Conn, error) { return nil, errors.New("no harness") },
		Ask:            func(context.Context, int) ([]netip.AddrPort, error) { return nil, errors.New("no harness") },
	}
}

// Hooks connect a scenario's rules to the harness running it.
type Hooks struct {
	// ProbeDial and ProbeReference serve Prober.Dial and Prober.Reference.
	ProbeDial      func(ctx context.Context, ep netip.AddrPort) (net.Conn, error)
	ProbeReference func(ctx context.Context) (net.Conn, error)
	// Ask serves Enumerator.Ask.
	Ask func(ctx context.Context, client int) ([]netip.AddrPort, error)
}

// Build turns the scenario's rule specs into rules for an Engine.
func (s *Scenario) Build(h Hooks) ([]Rule, error) {
	var out []Rule
	for i, r := range s.Rules {
		rule, err := r.build(h)
		if err != nil {
			return nil, fmt.Errorf("rule %d (%s): %w", i, r.Type, err)
		}
		out = append(out, rule)
	}
	return out, nil
}

func prefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func action(s string, def Verdict) (Verdict, error) {
	switch s {
	case "":
		return def, nil
	case "drop":
		return Drop, nil
	case "reset":
		return Reset, nil
	}
	return 0, fmt.Errorf("action %q: want drop or reset", s)
}

func (r RuleSpec) build(h Hooks) (Rule, error) {
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("missing or bad %s", what)
		}
		return nil
	}
	// The address lists, parsed whatever the type: a malformed one is an
	// error also where the type does not use it.
	var ps, servers, allow []netip.Prefix
	for _, l := range []struct {
		dst  *[]netip.Prefix
		src  []string
		name string
	}{{&ps, r.Prefixes, "prefixes"}, {&servers, r.Servers, "servers"}, {&allow, r.Allow, "allow"}} {
		var err error
		if *l.dst, err = prefixes(l.src); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	switch r.Type {
	case "ip-blocklist":
		rule := &IPBlocklist{}
		var err error
		if rule.Action, err = action(r.Action, Drop); err != nil {
			return nil, err
		}
		for _, st := range r.Stages {
			ps, err := prefixes(st.Prefixes)
			if err != nil {
				return nil, err
			}
			rule.Stages = append(rule.Stages, Stage{After: time.Duration(st.After), Prefixes: ps, Label: st.Label})
		}
		return rule, need(len(rule.Stages) > 0, "stages")
	case "sni-denylist":
		v, err := action(r.Action, Reset)
		if err != nil {
			return nil, err
		}
		return &SNIDenylist{Names: r.Names, Action: v}, need(len(r.Names) > 0, "names")
	case "allowlist":
		return &Allowlist{Prefixes: ps, SNIs: r.SNIs}, need(len(ps)+len(r.SNIs) > 0, "prefixes or snis")
	case "fully-encrypted":
		return &FullyEncrypted{Probability: r.Probability, Residual: time.Duration(r.Residual), Servers: servers},
			need(r.Probability > 0 && r.Probability <= 1 && r.Residual > 0, "probability and residual")
	case "tls-fingerprint":
		v, err := action(r.Action, Drop)
		if err != nil {
			return nil, err
		}
		return &FingerprintDenylist{JA3: r.JA3, JA4: r.JA4, Action: v}, need(len(r.JA3)+len(r.JA4) > 0, "ja3 or ja4")
	case "sni-throttle":
		return &Throttle{SNIs: r.Names, MinBPS: r.MinBPS, MaxBPS: r.MaxBPS},
			need(len(r.Names) > 0 && r.MinBPS > 0 && r.MaxBPS >= r.MinBPS, "names, min_bps, max_bps")
	case "stall":
		return &Stall{Servers: servers, MinBytes: r.MinBytes, MaxBytes: r.MaxBytes, ServerBytesOnly: r.Count == "s2c"},
			need(len(servers) > 0 && r.MinBytes > 0 && r.MaxBytes >= r.MinBytes && (r.Count == "" || r.Count == "both" || r.Count == "s2c"),
				"servers, min_bytes, max_bytes, count (both or s2c)")
	case "record-shape":
		act, err := action(r.Action, Drop)
		if err != nil {
			return nil, err
		}
		return &RecordShape{MinSize: r.MinSize, MinRecords: r.MinRecords, Window: r.Window, Allow: allow, Action: act},
			need(r.MinSize > 5 && r.MinRecords > 0 && r.Window >= 0, "min_size, min_records")
	case "inner-shape":
		if err := need(r.Window > 0 && r.MaxFPR > 0 && r.MaxFPR < 0.5, "window, max_fpr (0 to 0.5)"); err != nil {
			return nil, err
		}
		return NewInnerShape(r.Window, r.MaxFPR, allow)
	case "tls-only":
		return &JA4Allowlist{AnyHello: true, Allow: allow}, nil
	case "udp-block":
		return &UDPBlock{Allow: allow}, nil
	case "ja4-allowlist":
		return &JA4Allowlist{JA4s: r.JA4, Allow: allow}, need(len(r.JA4) > 0, "ja4")
	case "active-prober":
		var suspicious func([]byte) bool // nil: the fully-encrypted detector's
		switch r.Suspect {
		case "", "fully-encrypted":
		case "tls":
			suspicious = looksLikeTLS
		default:
			return nil, fmt.Errorf("suspect %q: want fully-encrypted or tls", r.Suspect)
		}
		return &Prober{Dial: h.ProbeDial, Reference: h.ProbeReference, Servers: servers, Suspicious: suspicious,
				MaxDelay: time.Duration(r.MaxDelay), Wait: time.Duration(r.Wait),
				RecordsPerEndpoint: r.Records, BlockFor: time.Duration(r.BlockFor)},
			need(h.ProbeDial != nil && h.ProbeReference != nil, "prober hooks")
	case "enumeration":
		return &Enumerator{Clients: r.Clients, Interval: time.Duration(r.Interval), Ask: h.Ask,
			BlockFor: time.Duration(r.BlockFor)}, need(r.Clients > 0 && h.Ask != nil, "clients and the ask hook")
	}
	return nil, fmt.Errorf("unknown rule type %q", r.Type)
}
