package lab

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// summarize says in plain words what the censor did and what each user
// ended up on, from the report's CensorActions and Timelines.
func summarize(r *Report) string {
	return censorSentence(r) + " " + usersSentence(r)
}

// censorSentence: "The censor reset 4 flows of u0 and u1 (fully-encrypted),
// ..." or "The censor took no action against the users' flows."
func censorSentence(r *Report) string {
	type group struct {
		rule, action string
		subjects     []string
		flows        int
		events       int
		targets      []string
	}
	var hit, other []*group
	idx := map[[2]string]*group{}
	for _, a := range r.CensorActions {
		g := idx[[2]string{a.Rule, a.Action}]
		if g == nil {
			g = &group{rule: a.Rule, action: a.Action}
			idx[[2]string{a.Rule, a.Action}] = g
			if a.Action == actRecorded || a.Action == actProbed || a.Action == actEnumerate {
				other = append(other, g)
			} else {
				hit = append(hit, g)
			}
		}
		if a.Subject != "all" && !slices.Contains(g.subjects, a.Subject) {
			g.subjects = append(g.subjects, a.Subject)
		}
		if a.Target != "" && !slices.Contains(g.targets, a.Target) {
			g.targets = append(g.targets, a.Target)
		}
		g.flows += a.Flows
		g.events += a.Events
	}
	phrase := func(g *group) string {
		sort.Strings(g.subjects)
		of := " of " + andList(g.subjects)
		var p string
		switch g.action {
		case actEndpoint:
			p = "blocked " + plural(len(g.targets), "endpoint") + " (" + strings.Join(g.targets, ", ") + ")"
		case actStage:
			p = fmt.Sprintf("blocklisted address ranges in %s", plural(g.events, "stage"))
		case actProbed:
			p = "probed " + plural(len(g.targets), "endpoint")
		case actEnumerate:
			p = "asked for relays with fake accounts " + plural(g.events, "time")
		case actRecorded:
			p = "recorded " + plural(g.flows, "flow") + of + " for probing"
		case actDropped:
			p = "dropped traffic on " + plural(g.flows, "flow") + of
		default: // refused connections, reset flows, ...
			verb, noun, _ := strings.Cut(g.action, " ")
			p = verb + " " + plural(g.flows, strings.TrimSuffix(noun, "s")) + of
		}
		return p + " (" + g.rule + ")"
	}
	var hits, others []string
	for _, g := range hit {
		hits = append(hits, phrase(g))
	}
	for _, g := range other {
		others = append(others, phrase(g))
	}
	s := "The censor took no action against the users' flows"
	if len(hits) > 0 {
		s = "The censor " + strings.Join(hits, ", ")
	}
	if len(others) > 0 {
		s += "; it also " + strings.Join(others, ", ")
	}
	return s + "."
}

// usersSentence tells each user's paths during the run.
func usersSentence(r *Report) string {
	var parts []string
	for i := 0; i < r.Users; i++ {
		parts = append(parts, userStory(userName(i), r.Timelines[userName(i)], durationMS(r)))
	}
	return strings.Join(parts, "; ") + "."
}

func durationMS(r *Report) int64 { return int64(r.Duration) / 1e6 }

// userStory: "u0 started on tlsws via relay r1, lost it when the censor
// went live (every open flow is cut then), then took direct at +0.8 s and
// ended on direct".
func userStory(user string, tl []TimelineEntry, end int64) string {
	start, current := "", ""
	var during []TimelineEntry
	books := 0
	for _, e := range tl {
		if e.Kind == "book" && e.T >= 0 && e.T <= end {
			books++
		}
		if e.Kind == "censor" || e.Kind == "book" || e.T > end {
			continue
		}
		current = "" // a path went down
		if e.Kind == "path up" {
			current = e.Path
		}
		if e.T < 0 {
			start = current
		} else {
			during = append(during, e)
		}
	}
	if len(during) == 0 {
		if start == "" {
			return user + " had no path during the run"
		}
		return user + " stayed on " + start
	}
	s := user + " started with no path"
	if start != "" {
		s = user + " started on " + start
	}
	var ups []string
	for i, e := range during {
		switch {
		case i == 0 && e.Kind == "path down" && start != "":
			s += ", lost it " + lostWhen(e, tl)
		case e.Kind == "path up" && len(ups) == 0 && e.Path == start && strings.Contains(s, "lost it"):
			s += ", got it back at " + at(e.T)
			ups = append(ups, "") // counted, not listed
		case e.Kind == "path up":
			ups = append(ups, e.Path+" at "+at(e.T))
		}
	}
	if len(ups) > 0 && ups[0] == "" {
		ups = ups[1:]
	}
	switch {
	case len(ups) > 3:
		s += fmt.Sprintf(", then changed paths %d times", len(ups))
	case len(ups) > 0:
		s += ", then took " + andList(ups)
	}
	if books > 0 {
		s += fmt.Sprintf(", reported blocked relays (its book changed %d times)", books)
	}
	if current == "" {
		return s + " and had no path at the end"
	}
	return s + " and ended on " + current
}

// lostWhen says when and, if a censor action hit the user in the two
// seconds before, after what a path went down.
func lostWhen(down TimelineEntry, tl []TimelineEntry) string {
	if down.T < 1000 {
		return "when the censor went live (every open flow is cut then)"
	}
	for i := len(tl) - 1; i >= 0; i-- {
		e := tl[i]
		if e.Kind == "censor" && e.T <= down.T && down.T-e.T <= 2000 {
			return fmt.Sprintf("at %s (%s: %s)", at(down.T), e.Rule, e.Action)
		}
	}
	return "at " + at(down.T)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func andList(xs []string) string {
	switch len(xs) {
	case 0:
		return "nobody"
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}
