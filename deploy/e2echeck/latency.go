package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// play is the JSON of a scoring play, as in play events.
type play struct {
	ID        int64     `json:"id"`
	GameID    int64     `json:"game_id"`
	Team      string    `json:"team"`
	Points    int       `json:"points"`
	CreatedAt time.Time `json:"created_at"`
}

// checkLatency runs cfg.command (the README's psql insert of a score) while a client
// follows that game through nginx, and checks that the play and the new score reach
// the client, and only them, within cfg.within of the row's created_at. created_at is
// taken inside the inserting transaction, so it is no later than the commit: the
// measured time bounds commit-to-browser from above.
func checkLatency(ctx context.Context, cfg config, stdout io.Writer) error {
	if cfg.game <= 0 || cfg.points <= 0 || len(cfg.command) == 0 {
		return fmt.Errorf("latency needs -game, -points and a command after --")
	}
	url := fmt.Sprintf("%s/events?topics=score&games=%d", cfg.base, cfg.game)
	s, err := openStream(ctx, url, "")
	if err != nil {
		return err
	}
	defer s.Close()
	snap, err := awaitSnapshot(s, time.Now().Add(10*time.Second))
	if err != nil {
		return err
	}
	before, ok := findGame(snap.Games, cfg.game)
	if !ok || len(snap.Games) != 1 || len(snap.Quotes) != 0 {
		return fmt.Errorf("snapshot for games=%d topics=score has %d games, %d quotes: want just game %d",
			cfg.game, len(snap.Games), len(snap.Quotes), cfg.game)
	}

	cmd := exec.CommandContext(ctx, cfg.command[0], cfg.command[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	started := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %q: %w", cfg.command, err)
	}
	exited := time.Now()

	var got *play
	var after *game
	deadline := time.Now().Add(10 * time.Second)
	var playAt time.Time
	for got == nil || after == nil {
		f, err := s.nextEvent(deadline)
		if err != nil {
			return fmt.Errorf("after the insert (play seen: %v, score seen: %v): %w", got != nil, after != nil, err)
		}
		if _, err := frameID(f); err != nil {
			return err
		}
		switch f.Event {
		case "play":
			var p play
			if err := json.Unmarshal([]byte(f.Data), &p); err != nil {
				return fmt.Errorf("play data %q: %w", f.Data, err)
			}
			if p.GameID != cfg.game {
				return fmt.Errorf("play for game %d on a stream filtered to game %d", p.GameID, cfg.game)
			}
			got, playAt = &p, f.At
		case "score":
			var g game
			if err := json.Unmarshal([]byte(f.Data), &g); err != nil {
				return fmt.Errorf("score data %q: %w", f.Data, err)
			}
			if g.ID != cfg.game {
				return fmt.Errorf("score for game %d on a stream filtered to game %d", g.ID, cfg.game)
			}
			after = &g
		default:
			return fmt.Errorf("event %q on a stream filtered to topics=score", f.Event)
		}
	}
	if got.Team != cfg.team || got.Points != cfg.points {
		return fmt.Errorf("play %+v, want %d points for %s", *got, cfg.points, cfg.team)
	}
	wantHome, wantAway := before.HomeScore, before.AwayScore
	if cfg.team == "home" {
		wantHome += cfg.points
	} else {
		wantAway += cfg.points
	}
	if after.HomeScore != wantHome || after.AwayScore != wantAway {
		return fmt.Errorf("score %d-%d after the play, want %d-%d", after.HomeScore, after.AwayScore, wantHome, wantAway)
	}
	latency := playAt.Sub(got.CreatedAt)
	fmt.Fprintf(stdout, "latency: play %d (game %d, %d-%d) reached the client %s after its created_at; "+
		"the psql command took %s and the event arrived %s after it exited; served by %s\n",
		got.ID, cfg.game, after.HomeScore, after.AwayScore, latency.Round(time.Millisecond),
		exited.Sub(started).Round(time.Millisecond), playAt.Sub(exited).Round(time.Millisecond), s.ServedBy)
	if latency > cfg.within || latency < -time.Second {
		return fmt.Errorf("play took %s from created_at to the client, want at most %s", latency, cfg.within)
	}
	return nil
}

// findGame finds a game among a snapshot's rows (JSON as the server wrote it).
func findGame(games []json.RawMessage, id int64) (game, bool) {
	for _, raw := range games {
		var g game
		if json.Unmarshal(raw, &g) == nil && g.ID == id {
			return g, true
		}
	}
	return game{}, false
}
