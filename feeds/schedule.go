package feeds

import (
	"context"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// topUp schedules games until LiveGames are in play or due, plus a queue of upcoming
// ones: the first LiveGames start within seconds of each other, the rest a spacing
// apart, which keeps about LiveGames in play as games end.
func (f *scoreFeed) topUp(ctx context.Context, now time.Time) error {
	upcoming := max(2, f.o.LiveGames/2)
	for len(f.live)+len(f.scheduled) < f.o.LiveGames+upcoming {
		n := len(f.live) + len(f.scheduled)
		var startsAt time.Time
		if n < f.o.LiveGames {
			startsAt = now.Add(time.Duration(n+1) * f.spacing / 30)
		} else {
			latest := now
			for _, g := range f.scheduled {
				if g.StartsAt != nil && g.StartsAt.After(latest) {
					latest = *g.StartsAt
				}
			}
			startsAt = latest.Add(f.spacing)
		}
		ng, ok := f.pairing(startsAt)
		if !ok {
			return nil // every team is busy
		}
		row, err := f.w.ScheduleGame(ctx, ng)
		if err != nil {
			return err
		}
		f.scheduled[row.ID] = row
	}
	return nil
}

// pairing picks a league (favouring those with fewer games on, by their weights) and
// two of its teams that are not playing or scheduled.
func (f *scoreFeed) pairing(startsAt time.Time) (store.NewGame, bool) {
	busy := map[string]bool{}
	count := map[string]int{}
	for _, g := range f.live {
		busy[g.teams[0].name], busy[g.teams[1].name] = true, true
		count[g.lg.Name]++
	}
	for _, g := range f.scheduled {
		busy[g.HomeTeam], busy[g.AwayTeam] = true, true
		count[g.League]++
	}
	var weights []float64
	var candidates [][]string
	var names []string
	for _, l := range leagues {
		var free []string
		for _, t := range l.Teams {
			if !busy[t] {
				free = append(free, t)
			}
		}
		if len(free) < 2 {
			continue
		}
		weights = append(weights, leagueWeights[l.Name]/float64(1+count[l.Name]))
		candidates = append(candidates, free)
		names = append(names, l.Name)
	}
	if len(names) == 0 {
		return store.NewGame{}, false
	}
	indices := make([]int, len(names))
	for i := range indices {
		indices[i] = i
	}
	i := pick(f.rng, weights, indices)
	free := candidates[i]
	h := f.rng.IntN(len(free))
	a := f.rng.IntN(len(free) - 1)
	if a >= h {
		a++
	}
	return store.NewGame{League: names[i], HomeTeam: free[h], AwayTeam: free[a], StartsAt: startsAt}, true
}
