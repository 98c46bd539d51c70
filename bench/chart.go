package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
)

// writeChart draws the ratios of every row that has a baseline as grouped
// horizontal bars, one bar per figure, on a log2 axis centred on 1 (the
// baseline): records/s to the right is better, the other figures to the
// left are. Ratios beyond 1/8 or 8 are drawn at the edge and labelled.
func writeChart(w io.Writer, rows []summary, title, subtitle string) {
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"}
	const (
		left, plotW, right = 190.0, 640.0, 70.0
		top                = 94.0
		barH, barGap       = 9.0, 1.0
		groupGap           = 10.0
		lo, hi             = -3.0, 3.0 // log2 of the axis ends: 1/8 .. 8
	)
	var drawn []summary
	for _, s := range rows {
		if s.err != nil || s.base == "" {
			continue
		}
		for _, ok := range s.hasRatio {
			if ok {
				drawn = append(drawn, s)
				break
			}
		}
	}
	groupH := float64(len(metrics))*(barH+barGap) + groupGap
	height := top + float64(len(drawn))*groupH + 40
	width := left + plotW + right
	x := func(ratio float64) float64 {
		l := math.Log2(ratio)
		return left + (math.Max(lo, math.Min(hi, l))-lo)/(hi-lo)*plotW
	}
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text x="10" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", esc(title))
	fmt.Fprintf(w, `<text x="10" y="34" fill="#555">%s</text>`+"\n", esc(subtitle))
	// Legend.
	lx := 10.0
	for i, m := range metrics {
		better := "lower is better"
		if !m.lowerBetter {
			better = "higher is better"
		}
		label := fmt.Sprintf("%s (%s)", m.name, better)
		fmt.Fprintf(w, `<rect x="%.0f" y="46" width="10" height="10" fill="%s"/><text x="%.0f" y="55">%s</text>`+"\n", lx, colors[i], lx+14, esc(label))
		lx += 14 + 6.2*float64(len(label)) + 14
	}
	// Axis grid.
	for e := lo; e <= hi; e++ {
		gx := x(math.Exp2(e))
		stroke, dash := "#ccc", ` stroke-dasharray="3,3"`
		if e == 0 {
			stroke, dash = "#000", ""
		}
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="%s"%s/>`+"\n", gx, top-8, gx, height-30, stroke, dash)
		label := fmt.Sprintf("%gx", math.Exp2(e))
		if e < 0 {
			label = fmt.Sprintf("1/%gx", math.Exp2(-e))
		}
		fmt.Fprintf(w, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", gx, top-12, label)
		fmt.Fprintf(w, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", gx, height-16, label)
	}
	for g, s := range drawn {
		y0 := top + float64(g)*groupH
		fmt.Fprintf(w, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-8, y0+groupH/2-2, esc(s.name))
		fmt.Fprintf(w, `<text x="%.0f" y="%.1f" text-anchor="end" fill="#777" font-size="9">vs %s</text>`+"\n", left-8, y0+groupH/2+9, esc(s.base))
		for i := range metrics {
			if !s.hasRatio[i] {
				continue
			}
			by := y0 + float64(i)*(barH+barGap)
			x0, x1 := x(1), x(s.ratio[i])
			if x1 < x0 {
				x0, x1 = x1, x0
			}
			fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"><title>%s %s: %.2fx %s</title></rect>`+"\n",
				x0, by, math.Max(x1-x0, 1), barH, colors[i], esc(s.name), esc(metrics[i].name), s.ratio[i], esc(s.base))
			// The label goes past the bar's end, or inside it, in white,
			// when the bar reaches the edge of the axis.
			label, fill := fmt.Sprintf("%.2f", s.ratio[i]), "#000"
			tx, anchor := x(s.ratio[i])+3, "start"
			if s.ratio[i] < 1 {
				tx, anchor = x(s.ratio[i])-3, "end"
			}
			switch l := math.Log2(s.ratio[i]); {
			case l < lo:
				label, fill, tx, anchor = label+" (off scale)", "#fff", x(s.ratio[i])+3, "start"
			case l > hi:
				label, fill, tx, anchor = label+" (off scale)", "#fff", x(s.ratio[i])-3, "end"
			}
			fmt.Fprintf(w, `<text x="%.1f" y="%.1f" font-size="8" text-anchor="%s" fill="%s">%s</text>`+"\n", tx, by+barH-1, anchor, fill, esc(label))
		}
	}
	fmt.Fprintln(w, "</svg>")
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
