package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// checkResume checks that a client that drops and comes back with Last-Event-ID, on
// another instance behind nginx, gets exactly the events it missed: the same ids (all
// of them, in order, as the events table has them) and the same bytes as a client
// that stayed connected. cfg.command is a psql invocation that takes one SQL string
// as its last argument and prints one value per line (psql -At -c).
func checkResume(ctx context.Context, cfg config, stdout io.Writer) error {
	if len(cfg.command) == 0 {
		return fmt.Errorf("resume needs a psql command after --")
	}
	url := cfg.base + "/events"
	control, err := openStream(ctx, url, "")
	if err != nil {
		return err
	}
	defer control.Close()
	seen := map[int64]frame{}
	var order []int64
	record := func(f frame) error {
		id, err := frameID(f)
		if err != nil {
			return err
		}
		if len(order) > 0 && id <= order[len(order)-1] {
			return fmt.Errorf("control stream: id %d after %d", id, order[len(order)-1])
		}
		seen[id] = f
		order = append(order, id)
		return nil
	}
	if _, err := awaitSnapshot(control, time.Now().Add(10*time.Second)); err != nil {
		return fmt.Errorf("control stream: %w", err)
	}

	// The client that will drop: connect, take a few live events, go away.
	first, err := openStream(ctx, url, "")
	if err != nil {
		return err
	}
	if _, err := awaitSnapshot(first, time.Now().Add(10*time.Second)); err != nil {
		first.Close()
		return err
	}
	var last int64
	for i := 0; i < 3; i++ {
		f, err := first.nextEvent(time.Now().Add(30 * time.Second))
		if err != nil {
			first.Close()
			return fmt.Errorf("first connection, live events: %w", err)
		}
		if last, err = frameID(f); err != nil {
			first.Close()
			return err
		}
	}
	first.Close()
	firstBy := first.ServedBy

	// Let events happen while it is away, as the control client sees them.
	deadline := time.Now().Add(30 * time.Second)
	missed := 0
	for missed < 10 {
		f, err := control.nextEvent(deadline)
		if err != nil {
			return fmt.Errorf("control stream, waiting for events after id %d: %w", last, err)
		}
		if err := record(f); err != nil {
			return err
		}
		if order[len(order)-1] > last {
			missed++
		}
	}
	through := order[len(order)-1]

	// Come back with Last-Event-ID, until nginx sends the client to another instance.
	var resumed *stream
	tries := 0
	for tries = 1; tries <= 30; tries++ {
		s, err := openStream(ctx, url, strconv.FormatInt(last, 10))
		if err != nil {
			return err
		}
		if s.ServedBy != firstBy {
			resumed = s
			break
		}
		s.Close()
	}
	if resumed == nil {
		return fmt.Errorf("30 reconnects all landed on %s: nginx does not spread clients over instances", firstBy)
	}
	defer resumed.Close()
	var got []int64
	for len(got) == 0 || got[len(got)-1] < through {
		f, err := resumed.nextEvent(time.Now().Add(10 * time.Second))
		if err != nil {
			return fmt.Errorf("resumed stream after id %d (got %v, want through %d): %w", last, got, through, err)
		}
		if f.Retry != "" && f.Event == "" {
			continue
		}
		if f.Event == "snapshot" || f.Event == "reset" {
			return fmt.Errorf("resumed stream sent %s (%q) for Last-Event-ID %d, which is within retention", f.Event, truncate([]byte(f.Data)), last)
		}
		id, err := frameID(f)
		if err != nil {
			return err
		}
		if id <= last {
			return fmt.Errorf("resumed stream sent id %d, at or before Last-Event-ID %d", id, last)
		}
		if len(got) > 0 && id <= got[len(got)-1] {
			return fmt.Errorf("resumed stream sent id %d after %d", id, got[len(got)-1])
		}
		if c, ok := seen[id]; ok && (c.Event != f.Event || c.Data != f.Data) {
			return fmt.Errorf("event %d differs: control %s %q, resumed %s %q", id, c.Event, c.Data, f.Event, f.Data)
		}
		got = append(got, id)
	}

	want, err := eventIDs(ctx, cfg.command, last, through)
	if err != nil {
		return err
	}
	var inRange, controlIDs []int64
	for _, id := range got {
		if id <= through {
			inRange = append(inRange, id)
		}
	}
	for _, id := range order {
		if id > last && id <= through {
			controlIDs = append(controlIDs, id)
		}
	}
	if !equal(inRange, want) {
		return fmt.Errorf("resumed after %d on %s: ids %v, the events table has %v", last, resumed.ServedBy, inRange, want)
	}
	if !equal(controlIDs, want) {
		return fmt.Errorf("control stream ids %v in (%d, %d], the events table has %v", controlIDs, last, through, want)
	}
	fmt.Fprintf(stdout, "resume: left %s at id %d, came back on %s (try %d) and got exactly the %d missed events (%d..%d) as in the events table and the control stream\n",
		firstBy, last, resumed.ServedBy, tries, len(want), want[0], want[len(want)-1])
	return nil
}

// eventIDs lists the ids in the events table in (after, through], in order.
func eventIDs(ctx context.Context, psql []string, after, through int64) ([]int64, error) {
	sql := fmt.Sprintf("SELECT id FROM events WHERE id > %d AND id <= %d ORDER BY id", after, through)
	args := append(append([]string{}, psql[1:]...), sql)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, psql[0], args...)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("list event ids with %q: %w", psql, err)
	}
	var ids []int64
	for _, line := range strings.Fields(out.String()) {
		id, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list event ids: %q is not an id", line)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
