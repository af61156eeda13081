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
	}
	for _, want := range []string{"russia-2018-ip-blocking", "russia-2021-throttling", "gfw-2023-fully-encrypted",
		"gfw-2020-active-probing", "tspu-2026-ja4", "stall-16k", "allowlist", "enumeration"} {
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
