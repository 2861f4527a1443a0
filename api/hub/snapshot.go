package hub

import (
	"encoding/json"
	"strconv"

	"github.com/tickerboard/tickerboard/store"
)

// snapshotPartMax bounds the data of one snapshot part. go-sse refuses events over
// 64 KiB by default and other clients buffer a whole event; 32 KiB keeps every part
// well inside what common clients accept, whatever the size of the board.
const snapshotPartMax = 32 << 10

// appendSnapshot appends the snapshot s as `event: snapshot` frames, each with data
//
//	{"id":H,"part":i,"parts":n,"quotes":[…],"games":[…],"plays":[…]}
//
// (the first part also carries "market": the market row, or null, after "parts") of
// at most snapshotPartMax bytes, i counting from 1, rows packed in order (quotes,
// then games, then plays) as many to a part as fit. Only the last part carries the
// `id: H` line: a client that drops mid-snapshot still holds its previous id, so it
// resumes from there and is sent the snapshot again, never half a board. A row too
// big for a part of its own (the log caps rows at 16 KiB, so none should be) travels
// alone in an oversized part rather than being lost.
func appendSnapshot(dst []byte, s store.Snapshot) []byte {
	parts := packSnapshot(s)
	var data []byte
	for i, p := range parts {
		var market json.RawMessage
		if i == 0 {
			market = marketOrNull(s.Market)
		}
		data = appendSnapshotPart(data[:0], s.ID, market, p, i+1, len(parts))
		id := ""
		if i == len(parts)-1 {
			id = strconv.FormatInt(s.ID, 10)
		}
		// Cannot fail: the name is fixed and the id a number.
		dst, _ = appendEvent(dst, id, "snapshot", data)
	}
	return dst
}

// marketOrNull is the market row as the first part carries it.
func marketOrNull(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("null")
	}
	return m
}

// snapshotKinds name a part's arrays, in the order rows are packed.
var snapshotKinds = [3]string{"quotes", "games", "plays"}

// snapshotPart is a part's rows of each kind, sub-slices of the snapshot's.
type snapshotPart [3][]json.RawMessage

// packSnapshot splits the rows into parts greedily, in order. A part's fixed cost is
// reckoned with the digits of the largest part count possible, so it never comes out
// short; an empty board is one part with empty arrays. The first part also pays for
// the market row.
func packSnapshot(s store.Snapshot) []snapshotPart {
	rows := snapshotPart{s.Quotes, s.Games, s.Plays}
	total := len(rows[0]) + len(rows[1]) + len(rows[2])
	digits := len(strconv.Itoa(max(total, 1)))
	fixed := len(`{"id":`) + len(strconv.FormatInt(s.ID, 10)) + len(`,"part":`) + digits +
		len(`,"parts":`) + digits + len(`,"quotes":[],"games":[],"plays":[]}`)
	var parts []snapshotPart
	var cur snapshotPart
	size, count := fixed+len(`,"market":`)+len(marketOrNull(s.Market)), 0
	for k := range rows {
		for j, row := range rows[k] {
			cost := len(row)
			if len(cur[k]) > 0 {
				cost++ // the comma
			}
			if count > 0 && size+cost > snapshotPartMax {
				parts = append(parts, cur)
				cur, size, count, cost = snapshotPart{}, fixed, 0, len(row)
			}
			cur[k] = rows[k][j-len(cur[k]) : j+1]
			size += cost
			count++
		}
	}
	return append(parts, cur)
}

// appendSnapshotPart appends one part's data; market is nil in every part but the first.
func appendSnapshotPart(dst []byte, id int64, market json.RawMessage, p snapshotPart, i, n int) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `,"part":`...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `,"parts":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	if market != nil {
		dst = append(dst, `,"market":`...)
		dst = append(dst, market...)
	}
	for k, kind := range snapshotKinds {
		dst = append(dst, `,"`...)
		dst = append(dst, kind...)
		dst = append(dst, `":[`...)
		for j, row := range p[k] {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, row...)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}
