package feeds

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The game clock as the board shows it: counting down ("7:42") for most sports,
// minutes played with stoppage time ("67'", "45+2'") for soccer, and words in the
// breaks ("End Q1", "Halftime", "HT"). resume reads it back, so a new leader picks a
// live game up where the last one left it.

// clockAt is the clock text at game clock at into the current period.
func (g *game) clockAt(at time.Duration) string {
	if g.lg.CountUp {
		base := time.Duration(g.period-1) * g.lg.PeriodLen
		if at >= g.lg.PeriodLen {
			extra := int((at-g.lg.PeriodLen)/time.Minute) + 1
			return fmt.Sprintf("%d+%d'", int((base+g.lg.PeriodLen)/time.Minute), extra)
		}
		return fmt.Sprintf("%d'", int((base+at)/time.Minute)+1)
	}
	left := g.lg.periodLength(g.period) - at
	secs := int((left + time.Second - 1) / time.Second) // a clock shows 12:00 until a full second has gone
	return fmt.Sprintf("%d:%02d", secs/60, secs%60)
}

// clock is what the board shows now.
func (g *game) clock() string {
	switch {
	case g.over:
		return g.finalClock()
	case g.breakLeft > 0:
		return g.breakName()
	}
	return g.clockAt(g.elapsed)
}

// breakName names the break after the current period.
func (g *game) breakName() string {
	p := g.period
	switch {
	case p == g.lg.Periods:
		return "End Reg"
	case g.lg.CountUp && p == g.lg.Periods/2:
		return "HT"
	case p == g.lg.Periods/2 && g.lg.breakAfter(p) == g.lg.Halftime && g.lg.Halftime > g.lg.Break:
		return "Halftime"
	}
	return "End " + g.lg.periodName(p)
}

// finalClock is the clock of a finished game: "Final", "Final/OT", "Final/SO", "FT".
func (g *game) finalClock() string {
	switch {
	case g.lg.CountUp:
		return "FT"
	case g.shotOut:
		return "Final/SO"
	case g.period > g.lg.Periods:
		return "Final/" + g.lg.periodName(g.period)
	}
	return "Final"
}

// resume puts the game at the period and clock text read from its row. Text it cannot
// read (a human typed something) starts the period from the top.
func (g *game) resume(period int, text string) {
	g.startPeriod(max(period, 1))
	text = strings.TrimSpace(text)
	switch {
	case text == "" || text == "0'":
	case text == "HT" || text == "Halftime" || text == "End Reg" || strings.HasPrefix(text, "End "):
		g.breakLeft = max(g.lg.breakAfter(g.period)/2, time.Second)
	case g.lg.CountUp && strings.HasSuffix(text, "'"):
		g.elapsed = g.parseMinutes(strings.TrimSuffix(text, "'"))
	case !g.lg.CountUp:
		if left, ok := parseClock(text); ok {
			g.elapsed = max(0, g.lg.periodLength(g.period)-left)
		}
	}
	if g.lg.CountUp && g.elapsed >= g.periodEnd() {
		g.stoppage = g.elapsed - g.lg.periodLength(g.period) + time.Minute
	}
}

// parseMinutes reads soccer's "67" or "45+2" into game clock into the period.
func (g *game) parseMinutes(s string) time.Duration {
	base := time.Duration(g.period-1) * g.lg.PeriodLen
	if regular, extra, ok := strings.Cut(s, "+"); ok {
		_, err1 := strconv.Atoi(regular)
		n, err2 := strconv.Atoi(extra)
		if err1 != nil || err2 != nil || n < 1 {
			return 0
		}
		return g.lg.PeriodLen + time.Duration(n-1)*time.Minute
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	at := time.Duration(n-1)*time.Minute - base
	return min(max(0, at), g.lg.PeriodLen)
}

// parseClock reads "M:SS" into the time left in the period.
func parseClock(s string) (time.Duration, bool) {
	m, sec, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	mins, err1 := strconv.Atoi(m)
	secs, err2 := strconv.Atoi(sec)
	if err1 != nil || err2 != nil || mins < 0 || secs < 0 || secs > 59 {
		return 0, false
	}
	return time.Duration(mins)*time.Minute + time.Duration(secs)*time.Second, true
}
