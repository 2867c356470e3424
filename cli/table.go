package cli

import (
	"bytes"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwarp"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// defaultWidth is the width assumed for a terminal whose size is unknown.
const defaultWidth = 80

// table collects a table's rows, then renders it for where it goes: on a
// terminal with box drawing, wrapped by tablewriter to the terminal's
// width; elsewhere (a file, a pipe) as plain columns, one line per row,
// no box drawing and no wrapping, for grep and awk.
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table { return &table{header: header} }

// append adds a row, each cell on one line (oneLine): a row is one line
// of a plain table, and a boxed table wraps its cells itself.
func (t *table) append(cells ...string) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = oneLine(c)
	}
	t.rows = append(t.rows, row)
}

// render writes the table to s.Out.
func (t *table) render(s Streams) error {
	return t.renderTo(s.Out, s.OutTTY, s.Width)
}

// renderTo writes the table to w: boxed and at most width columns wide
// when tty (width 0: defaultWidth), plain otherwise.
func (t *table) renderTo(w io.Writer, tty bool, width int) error {
	if !tty {
		return t.renderPlain(w)
	}
	if width <= 0 {
		width = defaultWidth
	}
	caps, fits := t.columnCaps(width)
	if !fits {
		return t.renderRecords(w, width)
	}
	b := tablewriter.NewConfigBuilder().WithHeaderAutoWrap(tw.WrapNormal).WithRowAutoWrap(tw.WrapNormal)
	for col, cw := range caps {
		b.ForColumn(col).WithMaxWidth(cw)
	}
	return fill(tablewriter.NewTable(w, tablewriter.WithConfig(b.Build())), t.header, t.rows)
}

// renderRecords writes each row as a box of its own, one line per
// non-empty column (name, value), for a terminal too narrow for the
// columns side by side. The values wrap at spaces; a word longer than
// the box is broken (tw.WrapBreak).
func (t *table) renderRecords(w io.Writer, width int) error {
	nameWidth := 0
	for _, h := range t.header {
		nameWidth = max(nameWidth, twwidth.Width(h))
	}
	valueCap := max(width-boxOverhead(2)-nameWidth, 8) + 2
	for _, r := range t.rows {
		rec := &table{header: []string{"", ""}}
		for i, h := range t.header {
			if i < len(r) && strings.TrimSpace(r[i]) != "" {
				rec.append(h, r[i])
			}
		}
		b := tablewriter.NewConfigBuilder().WithRowAutoWrap(tw.WrapBreak)
		b.ForColumn(1).WithMaxWidth(valueCap)
		tb := tablewriter.NewTable(w, tablewriter.WithConfig(b.Build()))
		for _, row := range rec.wrapWords(map[int]int{1: valueCap}) {
			if err := tb.Append(row); err != nil {
				return err
			}
		}
		if err := tb.Render(); err != nil {
			return err
		}
	}
	return nil
}

// wrapWords wraps the cells of the capped columns at spaces, with
// tablewriter's own word wrapper, so that tw.WrapBreak breaks only the
// words longer than their column.
func (t *table) wrapWords(caps map[int]int) [][]string {
	rows := make([][]string, len(t.rows))
	for r, row := range t.rows {
		rows[r] = append([]string(nil), row...)
		for col, cw := range caps {
			if col >= len(row) {
				continue
			}
			var lines []string
			for _, line := range strings.Split(row[col], "\n") {
				// WrapWords, unlike WrapString, keeps the limit when a
				// word is longer: that word gets a line of its own.
				for _, words := range twwarp.WrapWords(twwarp.SplitWords(line), 1, cw-2, 1e5) {
					lines = append(lines, strings.Join(words, " "))
				}
			}
			rows[r][col] = strings.Join(lines, "\n")
		}
	}
	return rows
}

func fill(tb *tablewriter.Table, header []string, rows [][]string) error {
	tb.Header(header)
	for _, r := range rows {
		if err := tb.Append(r); err != nil {
			return err
		}
	}
	return tb.Render()
}

// renderPlain writes the columns separated by two spaces, without
// borders, trailing blanks or escape codes.
func (t *table) renderPlain(w io.Writer) error {
	var buf bytes.Buffer
	tb := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithPadding(tw.Padding{Left: tw.Empty, Right: "  ", Overwrite: true}),
	)
	if err := fill(tb, t.header, t.rows); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// boxOverhead is what box drawing adds to the content of n columns: a
// border or separator before each column and after the last, and one
// space of padding on each side of each cell.
func boxOverhead(n int) int { return n + 1 + 2*n }

// columnCaps decides each column's maximum width (padding included) so
// that the table fits in width with every word whole (tw.WrapNormal).
// Columns that fit keep their natural width; the widest are narrowed
// first, each to an equal share of what is left ("water-filling"), but
// never below their longest word. The caps are tablewriter's per-column
// maximum widths: tablewriter does the wrapping. No entry: the column
// keeps its natural width. fits is false when even the longest words do
// not fit side by side.
func (t *table) columnCaps(width int) (caps map[int]int, fits bool) {
	n := len(t.header)
	natural, longestWord := make([]int, n), make([]int, n)
	measure := func(i int, cell string) {
		for _, line := range strings.Split(cell, "\n") {
			natural[i] = max(natural[i], twwidth.Width(line))
			for _, word := range strings.Fields(line) {
				longestWord[i] = max(longestWord[i], twwidth.Width(word))
			}
		}
	}
	for i, h := range t.header {
		measure(i, strings.ToUpper(h))
	}
	for _, r := range t.rows {
		for i := 0; i < n && i < len(r); i++ {
			measure(i, r[i])
		}
	}
	budget := width - boxOverhead(n)
	if sum(natural) <= budget {
		return nil, true
	}
	if sum(longestWord) > budget {
		return nil, false
	}
	// The largest cap c with sum(min(natural, max(c, longestWord))) <= budget.
	capped := func(c int) []int {
		w := make([]int, n)
		for i := range w {
			w[i] = min(natural[i], max(c, longestWord[i]))
		}
		return w
	}
	c := 1
	for c < budget && sum(capped(c+1)) <= budget {
		c++
	}
	caps = map[int]int{}
	for i, w := range capped(c) {
		if w < natural[i] {
			caps[i] = w + 2 // tablewriter's caps include the cell's padding
		}
	}
	return caps, true
}

func sum(xs []int) int {
	total := 0
	for _, x := range xs {
		total += x
	}
	return total
}
