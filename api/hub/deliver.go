package hub

// pick is the one decision of what a viewer gets next, whether its stream is parked or
// has a goroutine: of fs (frames in ring order) it appends to dst each frame the
// viewer's filter selects with an id above what it has and a transaction its last
// snapshot did not already show, and a rewind's reset whatever its id; for a slow
// viewer, only the newest state of each quote and game. It stops
// after limit bytes, or after a reset, which must be followed by a snapshot from the
// database (reset true). used is how many of fs it went through. dst may be fs[:0].
func (st *stream) pick(dst, fs []*Frame, limit int) (picked []*Frame, used int, reset bool) {
	size := 0
	for used < len(fs) && size < limit {
		f := fs[used]
		used++
		if !f.rewind && (f.ID <= st.sent || !st.filter.Match(f) || st.seen.Visible(f.Xid)) {
			continue
		}
		dst = append(dst, f)
		size += len(f.Bytes)
		if f.Name == "reset" {
			reset = true
			break
		}
	}
	if st.slow && len(dst) > st.h.cfg.ConflateAt {
		dst = st.h.conflate(dst)
	}
	return dst, used, reset
}

// conflate keeps, of frames in id order, every play and reset and only the newest
// frame of each quote and game.
func (h *Hub) conflate(frames []*Frame) []*Frame {
	type key struct{ name, key string }
	newest := make(map[key]int64, len(frames))
	for _, f := range frames {
		if f.state() {
			newest[key{f.Name, f.Key}] = f.ID
		}
	}
	out := frames[:0]
	for _, f := range frames {
		if !f.state() || newest[key{f.Name, f.Key}] == f.ID {
			out = append(out, f)
		}
	}
	h.metrics.conflated.Add(float64(len(frames) - len(out)))
	return out
}
