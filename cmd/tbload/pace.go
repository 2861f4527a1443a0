package main

import (
	"context"
	"time"
)

// pace issues rate events per second for d, calling fn with up to batch events per
// tick; tick k is due at start + k·batch/rate. A tick that runs late is followed at once
// by the next (the offered load is kept, not silently lowered), so a publisher that
// cannot keep up shows as a longer run and a lower achieved rate. It returns how many
// events fn accepted.
func pace(ctx context.Context, rate float64, batch int, d time.Duration, fn func(n int) error) (int64, error) {
	total := int64(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) * float64(batch) / rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var issued int64
	for k := int64(0); issued < total; k++ {
		if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return issued, ctx.Err()
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return issued, ctx.Err()
		}
		n := int(min(int64(batch), total-issued))
		if err := fn(n); err != nil {
			return issued, err
		}
		issued += int64(n)
	}
	return issued, nil
}
