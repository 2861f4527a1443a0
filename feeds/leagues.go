package feeds

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// league is a sport's rules as the score feed plays them: its periods and clock,
// what happens after a tie, and how points are scored.
type league struct {
	Name          string
	Periods       int
	PeriodLen     time.Duration // of game clock
	Break         time.Duration // between periods
	Halftime      time.Duration // after period Periods/2, if longer than Break
	OvertimeLen   time.Duration // 0: a tie after regulation stands
	MaxOvertimes  int           // 0: as many as it takes
	SuddenDeath   bool          // overtime ends at the first score
	Shootout      bool          // a tie after overtime is settled by a shootout, worth one goal
	CountUp       bool          // the clock shows minutes played (soccer), with stoppage time
	ChancesPerMin float64       // scoring chances per team per minute of game clock
	Steady        bool          // chances come at a steady pace (basketball's possessions), not at random
	Spread        float64       // how much teams differ: the sd of a team's log strength
	// score plays one scoring chance for a team: the plays it produces, in order
	// (none if it came to nothing).
	score func(r *rand.Rand) []scoringPlay
	Teams []string
}

// scoringPlay is one row of scores: points and what kind of play it was.
type scoringPlay struct {
	Points int
	Kind   string // shown after the scorer, e.g. "3PT"; "" for a plain goal
}

// periodName names a period for the clock shown in breaks ("End Q1", "End 2nd").
func (l *league) periodName(p int) string {
	if p > l.Periods {
		if p == l.Periods+1 {
			return "OT"
		}
		return fmt.Sprintf("%dOT", p-l.Periods)
	}
	if l.Periods == 4 {
		return fmt.Sprintf("Q%d", p)
	}
	return ordinal(p)
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return fmt.Sprintf("%dth", n)
}

// maxPeriod is where even a league that needs a winner accepts a tie (the schema
// allows periods up to 20).
func (l *league) maxPeriod() int {
	if l.MaxOvertimes > 0 {
		return l.Periods + l.MaxOvertimes
	}
	return min(20, l.Periods+10)
}

// periodLength is the game clock of period p.
func (l *league) periodLength(p int) time.Duration {
	if p > l.Periods {
		return l.OvertimeLen
	}
	return l.PeriodLen
}

// breakAfter is the break that follows period p; the one before overtime is short.
func (l *league) breakAfter(p int) time.Duration {
	if p >= l.Periods {
		return min(l.Break, 2*time.Minute)
	}
	if p == l.Periods/2 && l.Periods%2 == 0 && l.Halftime > l.Break {
		return l.Halftime
	}
	return l.Break
}

// duration is the game clock of a regulation game including its breaks.
func (l *league) duration() time.Duration {
	d := time.Duration(l.Periods) * l.PeriodLen
	for p := 1; p < l.Periods; p++ {
		d += l.breakAfter(p)
	}
	return d
}

// pick returns one of outcomes with the given weights.
func pick[T any](r *rand.Rand, weights []float64, outcomes []T) T {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := r.Float64() * total
	for i, w := range weights {
		if x < w {
			return outcomes[i]
		}
		x -= w
	}
	return outcomes[len(outcomes)-1]
}

// Basketball: field goals for 2 or 3, free throws for 1 each (about 78% made), and
// the and-one. About 105 points per team per 48 minutes.
func basketballChance(r *rand.Rand) []scoringPlay {
	freeThrows := func(n int) []scoringPlay {
		var ps []scoringPlay
		for range n {
			if r.Float64() < 0.78 {
				ps = append(ps, scoringPlay{1, "FT"})
			}
		}
		return ps
	}
	switch pick(r, []float64{0.55, 0.25, 0.12, 0.05, 0.03}, []string{"2", "3", "2FT", "and1", "1FT"}) {
	case "2":
		return []scoringPlay{{2, ""}}
	case "3":
		return []scoringPlay{{3, "3PT"}}
	case "2FT":
		return freeThrows(2)
	case "and1":
		return append([]scoringPlay{{2, ""}}, freeThrows(1)...)
	default:
		return freeThrows(1)
	}
}

// American football: a touchdown (6) is followed by its try, a kick for 1 or a
// two-point conversion; field goals are 3, safeties 2.
func footballChance(r *rand.Rand) []scoringPlay {
	switch pick(r, []float64{0.58, 0.39, 0.03}, []string{"TD", "FG", "Safety"}) {
	case "TD":
		td := []scoringPlay{{6, "TD"}}
		if r.Float64() < 0.92 {
			if r.Float64() < 0.94 {
				return append(td, scoringPlay{1, "XP"})
			}
			return td
		}
		if r.Float64() < 0.48 {
			return append(td, scoringPlay{2, "2PT"})
		}
		return td
	case "FG":
		return []scoringPlay{{3, "FG"}}
	default:
		return []scoringPlay{{2, "Safety"}}
	}
}

// Hockey: every goal is 1; some on the power play.
func hockeyChance(r *rand.Rand) []scoringPlay {
	return []scoringPlay{pick(r, []float64{0.78, 0.2, 0.02}, []scoringPlay{{1, ""}, {1, "PPG"}, {1, "SHG"}})}
}

// Soccer: every goal is 1; some from the penalty spot, a few own goals.
func soccerChance(r *rand.Rand) []scoringPlay {
	return []scoringPlay{pick(r, []float64{0.88, 0.09, 0.03}, []scoringPlay{{1, ""}, {1, "pen"}, {1, "og"}})}
}

// leagues are the sports the score feed plays. Their names are the games' league
// column; games of other leagues (a human's) are left alone.
var leagues = []*league{
	{
		Name: "Basketball", Periods: 4, PeriodLen: 12 * time.Minute, Break: 2 * time.Minute,
		Halftime: 10 * time.Minute, OvertimeLen: 5 * time.Minute, ChancesPerMin: 1.0,
		Steady: true, Spread: 0.05, score: basketballChance,
		Teams: []string{"Lakeside Lynx", "Harbor City Hawks", "Summit Peaks", "Riverton Rapids",
			"Bay Area Breakers", "Capital Comets", "Desert Suns", "Northfield Knights",
			"Ironwood Miners", "Port Royal Pirates", "Maple Falls Moose", "Silver Creek Stallions"},
	},
	{
		Name: "Soccer", Periods: 2, PeriodLen: 45 * time.Minute, Halftime: 10 * time.Minute,
		CountUp: true, ChancesPerMin: 1.4 / 90, Spread: 0.25, score: soccerChance,
		Teams: []string{"Westbridge United", "FC Northport", "Athletic Valdora", "Kingsford City",
			"Real Castellon", "Sporting Lisbridge", "Dynamo Karsk", "Olympique Marnay",
			"Ashby Rovers", "Union Brenhaven", "Calder Wanderers", "AC Montevera"},
	},
	{
		Name: "Football", Periods: 4, PeriodLen: 15 * time.Minute, Break: 2 * time.Minute,
		Halftime: 10 * time.Minute, OvertimeLen: 10 * time.Minute, MaxOvertimes: 1,
		SuddenDeath: true, ChancesPerMin: 4.5 / 60, Spread: 0.2, score: footballChance,
		Teams: []string{"Granite City Rams", "Bayport Mariners", "Red Valley Bison", "Fort Ashton Generals",
			"Clearwater Condors", "Prairie Thunder", "Stonebridge Titans", "Coastal Sharks",
			"Highland Wolves", "Mesa Outlaws", "Lakeview Voyagers", "Copper Hills Colts"},
	},
	{
		Name: "Hockey", Periods: 3, PeriodLen: 20 * time.Minute, Break: 10 * time.Minute,
		OvertimeLen: 5 * time.Minute, MaxOvertimes: 1, SuddenDeath: true, Shootout: true,
		ChancesPerMin: 3.1 / 60, Spread: 0.15, score: hockeyChance,
		Teams: []string{"Frostburg Blizzard", "Pine Ridge Lumberjacks", "Glacier Bay Orcas", "Northern Lights",
			"Iron Range Steelers", "Whitewater Falcons", "Timber Creek Wolves", "Polar City Bears",
			"Cold Harbor Admirals", "Alpine Avalanche", "Redstone Foxes", "Blue Lake Loons"},
	},
}

// leagueWeights is how often each league is scheduled, relative to the others:
// basketball keeps the board busy, soccer keeps it calm.
var leagueWeights = map[string]float64{"Basketball": 3, "Soccer": 2, "Football": 2, "Hockey": 2}

func leagueNamed(name string) *league {
	for _, l := range leagues {
		if l.Name == name {
			return l
		}
	}
	return nil
}

func leagueNames() []string {
	names := make([]string, len(leagues))
	for i, l := range leagues {
		names[i] = l.Name
	}
	return names
}
