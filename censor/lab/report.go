package lab

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// WriteJSON writes reports as an indented JSON array.
func WriteJSON(w io.Writer, reports []*Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reports)
}

// Cells are a report's summary-table cells, shared by the HTML page, the
// CLI and docs/lab.md.
func (r *Report) Cells() []string {
	rec := "-"
	if r.RecoveryP50 != nil {
		rec = fmt.Sprintf("%s / %s", humanDuration(time.Duration(*r.RecoveryP50)), humanDuration(time.Duration(*r.RecoveryP95)))
	}
	relays := fmt.Sprintf("%d of %d", r.RelaysBurned, r.Relays)
	enum := "n/a (no enumerator)"
	if r.EnumeratedShare != nil {
		enum = fmt.Sprintf("%.0f%%", 100**r.EnumeratedShare)
	}
	transports := strings.Join(r.Transports, ", ")
	if transports == "" {
		transports = "none"
	}
	if len(r.Offered) > 0 {
		transports += " (of " + strings.Join(r.Offered, ", ") + ")"
	}
	return []string{r.Scenario, transports,
		fmt.Sprintf("%.3f (%d/%d)", r.DeliveryRatio, r.DeliveredInRun, r.Sent),
		fmt.Sprint(r.Lost), rec, relays, enum, r.Verdict}
}

// Header names the Cells.
var Header = []string{"scenario", "transports used (of known)", "delivery ratio", "acked lost", "recovery p50 / p95", "relays burned", "enumerated", "result"}

// Markdown renders the summary table.
func Markdown(reports []*Report) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(Header, " | ") + " |\n|")
	for range Header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range reports {
		b.WriteString("| " + strings.Join(r.Cells(), " | ") + " |\n")
	}
	return b.String()
}

// WriteHTML writes one page: the summary table, then per scenario its
// summary line, its timeline and delivery chart (inline SVG, no script),
// its block events and each user's timeline of paths and censor actions.
func WriteHTML(w io.Writer, reports []*Report) error {
	type view struct {
		*Report
		Cells []string
		SVG   template.HTML
		Chart template.HTML
	}
	var vs []view
	for _, r := range reports {
		vs = append(vs, view{r, r.Cells(), template.HTML(timelineSVG(r)), template.HTML(deliverySVG(r))})
	}
	return page.Execute(w, map[string]any{"Header": Header, "Reports": vs, "When": time.Now().UTC().Format(time.RFC3339)})
}

var funcs = template.FuncMap{
	"human":  func(d Duration) string { return humanDuration(time.Duration(d)) },
	"humanp": func(d *Duration) string { return humanDuration(time.Duration(*d)) },
	"at":     at,
	"atd":    func(d Duration) string { return at(time.Duration(d).Milliseconds()) },
}

var page = template.Must(template.New("lab").Funcs(funcs).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>samizdat lab report</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;font-size:90%}
.fail{color:#b00;font-weight:bold}.pass{color:#070}.summary{font-size:110%;background:#f4f4f8;padding:.5em}
svg{border:1px solid #ddd;background:#fcfcfc;display:block;margin:.5em 0}
tr.censor td{color:#b00}
</style></head><body>
<h1>samizdat censorship lab</h1>
<p>Generated {{.When}}. Delivery ratio: numbered messages delivered before the censor was lifted, over those sent.
Acked lost: acknowledged by the server but never delivered, even after the censor was lifted and the run drained.
Times are since the censor went live.</p>
<table><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Reports}}<tr>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{range .Reports}}
<h2>{{.Scenario}}: {{.Title}}</h2>
<p class="summary">{{.Summary}}</p>
<p class="{{if .Pass}}pass{{else}}fail{{end}}">{{.Verdict}}{{if .KnownGap}}<br>known gap: {{.KnownGap}}{{end}}{{range .Reasons}}<br>{{.}}{{end}}</p>
<p>{{.Users}} users, a message every {{human .Every}} each, for {{human .Duration}}; endpoints {{range .Endpoints}}{{.}} {{end}};
relays: {{range .RelayList}}{{.}}; {{end}} burned: {{range .Burned}}{{.}} {{else}}none{{end}}.</p>
<p>By design: {{.Design}}.</p>
<p>{{.Sent}} sent, {{.Acked}} acknowledged, {{.DeliveredInRun}} delivered during the run,
{{.Unacked}} still unacknowledged after the drain ({{human .Drain}}), {{.Lost}} acknowledged and lost.
{{.Flows}} flows intercepted. Recovery threshold {{human .RecoveryWithin}}.</p>
{{.Chart}}
{{.SVG}}
<table><tr><th>at</th><th>who</th><th>rule</th><th>first action</th><th>actions</th><th>recovered after</th><th>unblocked path</th><th>judged</th></tr>
{{range .BlockEvents}}<tr><td>{{atd .At}}</td><td>{{.Subject}}</td><td>{{.Rule}}</td><td>{{.What}}</td><td>{{.Count}}</td>
<td>{{if .Recovery}}{{humanp .Recovery}}{{else}}not in the run{{end}}</td><td>{{.PathOpen}}</td><td>{{.Judged}}</td></tr>
{{else}}<tr><td colspan="8">no block event (an outage the censor caused for a user); what the censor did is in the summary above and the timelines below</td></tr>{{end}}
</table>
{{range $user, $tl := .Timelines}}<h3>{{$user}}</h3>
<table><tr><th>at</th><th>what</th><th>transport / path</th><th>detail</th></tr>
{{range $tl}}<tr{{if eq .Kind "censor"}} class="censor"{{end}}><td>{{at .T}}</td><td>{{.Kind}}</td>
<td>{{if eq .Kind "censor"}}{{.Rule}}: {{.Action}}{{if gt .Count 1}} (x{{.Count}}){{end}}{{else}}{{.Path}}{{end}}</td><td>{{.What}}</td></tr>
{{end}}</table>
{{end}}
<details><summary>the censor's log ({{len .Censor}} entries)</summary><table><tr><th>at</th><th>rule</th><th>flow</th><th>what</th></tr>
{{range .Censor}}<tr><td>{{at .T}}</td><td>{{.Rule}}</td><td>{{.Flow}}</td><td>{{.What}}</td></tr>{{end}}</table></details>
{{end}}
</body></html>
`))

// timelineSVG draws sends (one lane per user), deliveries (by sender, up
// and to the right of the send by their latency) and block events
// (vertical red lines) against seconds since the censor went live.
func timelineSVG(r *Report) string {
	const width, left, right, lane = 1000.0, 50.0, 20.0, 70.0
	height := 40 + lane*float64(r.Users) + 30
	span := float64(time.Duration(r.Duration).Milliseconds())
	for _, d := range r.Deliveries {
		span = max(span, float64(d.T))
	}
	if span <= 0 {
		span = 1
	}
	x := func(t int64) float64 { return left + (width-left-right)*float64(t)/span }
	laneOf := map[string]int{}
	for i := 0; i < r.Users; i++ {
		laneOf[userName(i)] = i
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-size="11">`, width, height)
	end := x(time.Duration(r.Duration).Milliseconds())
	fmt.Fprintf(&b, `<rect x="%.1f" y="20" width="%.1f" height="%.0f" fill="#fff3f3"/>`, left, end-left, lane*float64(r.Users))
	for s := int64(0); s*1000 <= int64(span); s += tickStep(span) {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="20" x2="%.1f" y2="%.0f" stroke="#eee"/><text x="%.1f" y="%.0f" text-anchor="middle">%ds</text>`,
			x(s*1000), x(s*1000), height-25, x(s*1000), height-10, s)
	}
	for i := 0; i < r.Users; i++ {
		y := 20 + lane*float64(i)
		fmt.Fprintf(&b, `<text x="4" y="%.0f">%s</text>`, y+lane/2, userName(i))
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#ccc"/>`, left, y+lane, width-right, y+lane)
	}
	for _, p := range r.Sends {
		y := 20 + lane*float64(laneOf[p.User]) + lane*0.75
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="1.5" fill="#888"/>`, x(p.T), y)
	}
	for _, p := range r.Deliveries {
		y := 20 + lane*float64(laneOf[p.User]) + lane*0.3
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="1.8" fill="#07a"><title>%s#%d after %dms</title></circle>`, x(p.T), y, p.User, p.N, p.Lat)
	}
	for _, e := range r.BlockEvents {
		t := time.Duration(e.At).Milliseconds()
		fmt.Fprintf(&b, `<line x1="%.1f" y1="15" x2="%.1f" y2="%.0f" stroke="#d00" stroke-width="1.5"><title>%s %s: %s</title></line>`,
			x(t), x(t), 20+lane*float64(r.Users), template.HTMLEscapeString(e.Subject), template.HTMLEscapeString(e.Rule), template.HTMLEscapeString(e.What))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="15" x2="%.1f" y2="%.0f" stroke="#000" stroke-dasharray="4 3"/><text x="%.1f" y="12" text-anchor="end">censor lifted</text>`,
		end, end, 20+lane*float64(r.Users), end-2)
	fmt.Fprintf(&b, `<text x="%.0f" y="12">grey: sent (lower row), blue: delivered (upper row, by sender), red: block events</text>`, left)
	b.WriteString(`</svg>`)
	return b.String()
}

func tickStep(spanMS float64) int64 {
	s := int64(spanMS / 1000 / 12)
	if s < 1 {
		return 1
	}
	return s
}
