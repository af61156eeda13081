package censor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEveryScenarioParses loads every file of censor/scenarios, checks each
// builds its rules, and checks the set named in issue 5 is all there.
func TestEveryScenarioParses(t *testing.T) {
	all, err := LoadScenarios("scenarios")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range all {
		got[s.Name] = true
		rules, err := s.Build(placeholderHooks())
		if err != nil || len(rules) != len(s.Rules) {
			t.Errorf("%s: %d rules built, err %v", s.Name, len(rules), err)
		}
		if _, err := s.Build(Hooks{}); len(s.Rules) > 0 && (s.Rules[0].Type == "active-prober" || s.Rules[0].Type == "enumeration") && err == nil {
			t.Errorf("%s: built without the hooks it needs", s.Name)
		}
		t.Logf("%s: %d rules, quick %v, recover within %v", s.Name, len(rules), time.Duration(s.Quick), time.Duration(s.Recovery.Within))
		if time.Duration(s.Recovery.Within) > 5*time.Second {
			t.Errorf("%s: recover within %v; every scenario's threshold is at most 5 s (issue 13)", s.Name, time.Duration(s.Recovery.Within))
		}
	}
	for _, want := range []string{"russia-2018-ip-blocking", "russia-2021-throttling", "gfw-2023-fully-encrypted",
		"gfw-2020-active-probing", "tspu-2026-ja4", "stall-16k", "allowlist", "enumeration", "analyst-2026", "analyst-2026-classifier", "freeze-all-foreign"} {
		if !got[want] {
			t.Errorf("scenario %s missing", want)
		}
	}
	files, _ := filepath.Glob("scenarios/*.json")
	if len(files) != len(all) {
		t.Errorf("%d files, %d parsed", len(files), len(all))
	}
}

func TestScenarioParserRejects(t *testing.T) {
	good, err := os.ReadFile("scenarios/stall-16k.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(string) string{
		"unknown field":  func(s string) string { return strings.Replace(s, `"seed"`, `"sed"`, 1) },
		"bad duration":   func(s string) string { return strings.Replace(s, `"quick": "60s"`, `"quick": "soon"`, 1) },
		"unknown rule":   func(s string) string { return strings.Replace(s, `"type": "stall"`, `"type": "stal"`, 1) },
		"bad prefix":     func(s string) string { return strings.Replace(s, `"198.18.64.0/18"`, `"198.18.64.0/40"`, 1) },
		"missing params": func(s string) string { return strings.Replace(s, `"min_bytes": 16384`, `"min_bytes": 0`, 1) },
		"trailing data":  func(s string) string { return s + "{}" },
	} {
		bad := mutate(string(good))
		if bad == string(good) {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := ParseScenario([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestNewRuleSpecs: the 2026 rules build from their specs, with their
// parameters, and refuse bad ones.
func TestNewRuleSpecs(t *testing.T) {
	build := func(spec RuleSpec) (Rule, error) { return spec.build(placeholderHooks()) }
	r, err := build(RuleSpec{Type: "record-shape", MinSize: 411, MinRecords: 3, Allow: []string{"198.19.0.0/16"}})
	if rs, ok := r.(*RecordShape); err != nil || !ok || rs.MinSize != 411 || rs.Action != Drop || len(rs.Allow) != 1 {
		t.Errorf("record-shape: %#v, %v", r, err)
	}
	r, err = build(RuleSpec{Type: "ja4-allowlist", JA4: []string{"t13d1517h2_8daaf6152771_cb7bf5808d99"}})
	if ja, ok := r.(*JA4Allowlist); err != nil || !ok || ja.AnyHello || len(ja.JA4s) != 1 {
		t.Errorf("ja4-allowlist: %#v, %v", r, err)
	}
	r, err = build(RuleSpec{Type: "tls-only"})
	if ja, ok := r.(*JA4Allowlist); err != nil || !ok || !ja.AnyHello {
		t.Errorf("tls-only: %#v, %v", r, err)
	}
	r, err = build(RuleSpec{Type: "stall", Servers: []string{"198.18.0.0/15"}, MinBytes: 15360, MaxBytes: 20480, Count: "s2c"})
	if st, ok := r.(*Stall); err != nil || !ok || !st.ServerBytesOnly {
		t.Errorf("stall s2c: %#v, %v", r, err)
	}
	r, err = build(RuleSpec{Type: "active-prober", Suspect: "tls"})
	if p, ok := r.(*Prober); err != nil || !ok || p.Suspicious == nil || !p.Suspicious(tlsHello(1, "x.example")) || p.Suspicious([]byte("\x05\x60abc")) {
		t.Errorf("active-prober suspect tls: %#v, %v", r, err)
	}
	for _, bad := range []RuleSpec{
		{Type: "record-shape", MinSize: 0, MinRecords: 3},
		{Type: "record-shape", MinSize: 411, MinRecords: 3, Action: "explode"},
		{Type: "ja4-allowlist"},
		{Type: "stall", Servers: []string{"198.18.0.0/15"}, MinBytes: 1, MaxBytes: 2, Count: "up"},
		{Type: "active-prober", Suspect: "everyone"},
		{Type: "udp-block", Allow: []string{"300.1.1.1/8"}},
	} {
		if _, err := build(bad); err == nil {
			t.Errorf("%+v built", bad)
		}
	}
}
