package lab

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// deliverySVG charts the run second by second: messages sent (grey bars)
// and delivered (blue line), block events (red lines) and the moment the
// censor was lifted (dashed), as inline SVG with no script.
func deliverySVG(r *Report) string {
	const width, height, left, right, top, bottom = 1000.0, 180.0, 50.0, 20.0, 20.0, 30.0
	if len(r.Series) == 0 {
		return ""
	}
	peak := 1
	for _, p := range r.Series {
		peak = max(peak, p.Sent, p.Delivered)
	}
	n := float64(len(r.Series))
	slot := (width - left - right) / n
	x := func(sec float64) float64 { return left + slot*sec }
	y := func(v int) float64 { return height - bottom - (height-top-bottom)*float64(v)/float64(peak) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="delivery" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-size="11">`, width, height)
	fmt.Fprintf(&b, `<text x="%.0f" y="13">messages per second: grey bars sent, blue line delivered; red: block events</text>`, left)
	fmt.Fprintf(&b, `<text x="4" y="%.0f">%d</text><text x="4" y="%.0f">0</text>`, y(peak)+4, peak, y(0))
	var line []string
	for _, p := range r.Series {
		s := float64(p.Second)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ccc"><title>%s: %d sent, %d delivered</title></rect>`,
			x(s)+slot*0.1, y(p.Sent), slot*0.8, y(0)-y(p.Sent), at(int64(p.Second)*1000), p.Sent, p.Delivered)
		line = append(line, fmt.Sprintf("%.1f,%.1f", x(s+0.5), y(p.Delivered)))
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#07a" stroke-width="2"/>`, strings.Join(line, " "))
	for s := 0; s < len(r.Series); s += int(tickStep(n * 1000)) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%ds</text>`, x(float64(s)), height-10, s)
	}
	for _, e := range r.BlockEvents {
		bx := x(time.Duration(e.At).Seconds())
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#d00"><title>%s %s: %s</title></line>`,
			bx, top, bx, height-bottom, template.HTMLEscapeString(e.Subject), template.HTMLEscapeString(e.Rule), template.HTMLEscapeString(e.What))
	}
	end := x(time.Duration(r.Duration).Seconds())
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#000" stroke-dasharray="4 3"/>`, end, top, end, height-bottom)
	b.WriteString(`</svg>`)
	return b.String()
}
