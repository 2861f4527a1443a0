package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"golang.org/x/sync/semaphore"
)

// Capture modes: how committed changes become events (migration 000004).
const (
	// CaptureAuto captures from the WAL when the server and role allow it, else with
	// triggers.
	CaptureAuto = "auto"
	// CaptureWAL decodes the WAL through a replication slot: writers pay nothing
	// but their own WAL. Needs wal_level = logical and a role with REPLICATION.
	CaptureWAL = "wal"
	// CaptureTriggers turns changes into events inside the writing transaction, on
	// any Postgres, at the cost of serialising event-producing commits.
	CaptureTriggers = "triggers"
)

// CapturePublication is the publication migration 000004 creates.
const CapturePublication = "tickerboard"

// CaptureApplicationName marks the WAL capture's replication session, and
// CaptureApplyApplicationName the session that appends what it decodes to the log.
const (
	CaptureApplicationName      = "tickerboard-capture"
	CaptureApplyApplicationName = "tickerboard-capture-apply"
)

// CaptureLockKey is the advisory lock the WAL capture's apply session holds: one
// appender at a time, and the proof listeners check before they believe events
// carried in a notification.
const CaptureLockKey = 7294615230473

// captureHolderSQL finds the session holding CaptureLockKey in this database, with
// captureHolderArgs (pg_locks splits a bigint key into classid and objid).
const captureHolderSQL = `SELECT l.pid FROM pg_catalog.pg_locks l
	WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
	  AND l.classid::bigint = $1 AND l.objid::bigint = $2
	  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())`

var captureHolderArgs = []any{int64(CaptureLockKey >> 32), int64(CaptureLockKey & 0xffffffff)}

// CaptureChoice is what ChooseCapture decided and why, for the startup log.
type CaptureChoice struct {
	Mode string
	Why  string
}

// ChooseCapture decides the capture for want (auto, wal or triggers) on this server.
// wal on a server that cannot do it is an error that says what to change.
func (s *Store) ChooseCapture(ctx context.Context, want string) (CaptureChoice, error) {
	switch want {
	case CaptureTriggers:
		return CaptureChoice{CaptureTriggers, "-capture triggers"}, nil
	case CaptureAuto, CaptureWAL:
	default:
		return CaptureChoice{}, fmt.Errorf("capture %q: want auto, wal or triggers", want)
	}
	var walLevel, role string
	var replication bool
	var slots int
	err := s.pool.QueryRow(ctx, `SELECT current_setting('wal_level'), current_user, r.rolreplication OR r.rolsuper,
		       current_setting('max_replication_slots')::int
		FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`).Scan(&walLevel, &role, &replication, &slots)
	if err != nil {
		return CaptureChoice{}, fmt.Errorf("read the server's WAL settings: %w", err)
	}
	var why string
	switch {
	case walLevel != "logical":
		why = fmt.Sprintf("wal_level is %s; set wal_level = logical and restart Postgres to capture from the WAL", walLevel)
	case !replication:
		why = fmt.Sprintf("role %s lacks REPLICATION; ALTER ROLE %s REPLICATION to capture from the WAL", role, role)
	case slots == 0:
		why = "max_replication_slots is 0; raise it and restart Postgres to capture from the WAL"
	}
	if why == "" {
		return CaptureChoice{CaptureWAL, "wal_level is logical: writers pay only their own WAL"}, nil
	}
	if want == CaptureWAL {
		return CaptureChoice{}, fmt.Errorf("-capture wal: %s", why)
	}
	return CaptureChoice{CaptureTriggers, why}, nil
}

var slotUnsafe = regexp.MustCompile(`[^a-z0-9_]`)

// CaptureSlot names the replication slot for the database of url: slots are
// cluster-wide, so the name carries the database's (cleaned up, with a hash so two
// names never clash).
func (s *Store) CaptureSlot() string {
	db := s.pool.Config().ConnConfig.Database
	h := fnv.New32a()
	h.Write([]byte(db))
	clean := slotUnsafe.ReplaceAllString(strings.ToLower(db), "_")
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return fmt.Sprintf("tickerboard_%s_%08x", clean, h.Sum32())
}

// SetCaptureMode makes mode the capture (tickerboard_capture_switch) and returns the
// mode that was in force. It waits at most 5 s for writers holding the board tables.
func (s *Store) SetCaptureMode(ctx context.Context, mode string) (was string, err error) {
	err = s.pool.QueryRow(ctx, "SELECT tickerboard_capture_switch($1)", mode).Scan(&was)
	if err != nil {
		return "", fmt.Errorf("switch capture to %s: %w", mode, err)
	}
	return was, nil
}

// CaptureMode reads the capture in force.
func (s *Store) CaptureMode(ctx context.Context) (string, error) {
	var mode string
	if err := s.pool.QueryRow(ctx, "SELECT mode FROM capture_mode").Scan(&mode); err != nil {
		return "", fmt.Errorf("read capture mode: %w", err)
	}
	return mode, nil
}

// CaptureStatus is the WAL capture's slot as Postgres sees it.
type CaptureStatus struct {
	Mode string // capture_mode.mode
	Slot string // "" when there is no slot
	// Active: a capture session is streaming from the slot.
	Active bool
	// RetainedBytes is the WAL Postgres keeps for the slot (current LSN − restart_lsn):
	// it grows while no instance captures, up to max_slot_wal_keep_size.
	RetainedBytes int64
	// LagBytes is how far the slot's confirmed position is behind the current LSN.
	LagBytes int64
	// WALStatus is pg_replication_slots.wal_status ("lost": the slot was invalidated).
	WALStatus string
}

// CaptureStatus reads the capture mode and its slot, bounded by LockTimeout.
func (s *Store) CaptureStatus(ctx context.Context) (CaptureStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, LockTimeout)
	defer cancel()
	st := CaptureStatus{}
	var slot, walStatus *string
	var active *bool
	var retained, lag *int64
	err := s.pool.QueryRow(ctx, `SELECT m.mode, s.slot_name, s.active, s.wal_status,
		       (pg_catalog.pg_current_wal_lsn() - s.restart_lsn)::bigint,
		       (pg_catalog.pg_current_wal_lsn() - s.confirmed_flush_lsn)::bigint
		FROM capture_mode m LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = $1`,
		s.CaptureSlot()).Scan(&st.Mode, &slot, &active, &walStatus, &retained, &lag)
	if err != nil {
		return st, fmt.Errorf("read capture status: %w", err)
	}
	if slot != nil {
		st.Slot = *slot
	}
	if active != nil {
		st.Active = *active
	}
	if walStatus != nil {
		st.WALStatus = *walStatus
	}
	if retained != nil {
		st.RetainedBytes = *retained
	}
	if lag != nil {
		st.LagBytes = *lag
	}
	return st, nil
}

// Capture is the WAL capture: run by the leading instance only, it streams committed
// changes of the published tables from the replication slot, in commit order, and
// appends them to the log with tickerboard_capture_append, as many transactions per
// call as have arrived. Its position lives in the database (capture_progress), so a
// new leader continues exactly where the log is; the slot keeps the WAL meanwhile.
type Capture struct {
	store  *Store
	logger *slog.Logger
	// MaxBatch bounds the changes one apply call takes.
	MaxBatch int
	// Spacing is the least time between two appends per listening instance, up to
	// MaxSpacing. Each append is one NOTIFY, which Postgres delivers to every listener
	// at a cost of its own (a wake-up and a transaction in its backend, ~50 µs on the
	// 2-core test machine): spaced in proportion to the listeners, appends cost
	// Postgres at most about 1/Spacing deliveries a second in all, however many
	// instances there are. Commits that arrive meanwhile join the next append. Alone
	// (no listener but this instance's), appends follow commits at once.
	Spacing, MaxSpacing time.Duration
	// MaxTxBytes bounds what one decoded transaction may hold in memory: a larger one
	// (an UPDATE of millions of rows) is logged as a reset, and viewers start over from
	// a snapshot, which the tables hold. MaxInFlight bounds the decoded transactions
	// waiting for the apply.
	MaxTxBytes, MaxInFlight int
	// Status is how often the capture tells the server how far it has applied (so
	// the slot frees WAL).
	Status time.Duration
	// Notifier, if set, is this instance's: each committed append is handed to it
	// (Notifier.handOver), so this instance neither waits for its NOTIFY to come back
	// nor reads back from the log what it has just written.
	Notifier *Notifier

	conn      *pgx.Conn // the apply session, holding CaptureLockKey
	streaming atomic.Bool
}

// NewCapture returns the WAL capture for s.
func NewCapture(s *Store, logger *slog.Logger) *Capture {
	return &Capture{store: s, logger: logger, MaxBatch: 5000,
		Spacing: 500 * time.Microsecond, MaxSpacing: 20 * time.Millisecond, Status: time.Second,
		MaxTxBytes: 32 << 20, MaxInFlight: 128 << 20}
}

// Streaming reports whether the capture is reading its slot: the WAL is the capture,
// and everything committed from now on will be decoded by it.
func (c *Capture) Streaming() bool { return c.streaming.Load() }

// commitTimeLayout is how a decoded transaction's commit time is written for the log.
const commitTimeLayout = "2006-01-02T15:04:05.999999-07:00"

// change is one row change for tickerboard_capture_append: a JSON object for the SQL to
// make into events, or a price event built here (quoteJSON).
type change struct {
	json    []byte
	key     string
	payload []byte
	at      string // commit time
	xid     uint32
}

// decodedTx is one committed transaction from the slot.
type decodedTx struct {
	xid      uint32
	at       string // commit time, as the log's JSON writes times
	commit   pglogrepl.LSN
	end      pglogrepl.LSN
	changes  []change
	switchTo string // capture_mode changed to this in the transaction
	// lastReset: the transaction's last change was a reset of tickerboard_emit's.
	lastReset bool
	// bytes is about what changes hold; past limit the transaction overflows: its
	// changes are dropped and, at commit, replaced by a reset.
	bytes, limit int
	overflow     bool
}

// Run captures from the WAL until ctx ends or the session fails. It makes the WAL the
// capture first (creating the slot if need be).
func (c *Capture) Run(ctx context.Context) error {
	s := c.store
	slot := s.CaptureSlot()
	// The session that appends to the log holds the capture lock while it lives:
	// listeners believe events carried in a notification only from its holder.
	applyConn, err := s.session(ctx, CaptureApplyApplicationName, 10*time.Second)
	if err != nil {
		return fmt.Errorf("capture: connect: %w", err)
	}
	defer hangUp(applyConn) // ends the session, which releases the lock
	var got bool
	if err := applyConn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", CaptureLockKey).Scan(&got); err != nil {
		return fmt.Errorf("capture: take the capture lock: %w", err)
	}
	if !got {
		// A previous leader's capture that has not noticed it lost the lead (this
		// instance leads now): end its session, then wait for the lock.
		if _, err := applyConn.Exec(ctx, `SELECT pg_catalog.pg_terminate_backend(h.pid, 5000) FROM (`+captureHolderSQL+`) h`,
			captureHolderArgs...); err != nil {
			return fmt.Errorf("capture: end the previous capture session: %w", err)
		}
		if _, err := applyConn.Exec(ctx, "SELECT pg_advisory_lock($1)", CaptureLockKey); err != nil {
			return fmt.Errorf("capture: take the capture lock: %w", err)
		}
	}
	c.conn = applyConn
	if n := c.Notifier; n != nil {
		n.captureSession(applyConn.PgConn().PID())
		defer n.captureSession(0)
	}
	cfg := s.ConnConfig()
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["application_name"] = CaptureApplicationName
	cfg.RuntimeParams["DateStyle"] = "ISO" // the text forms quoteJSON reads
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgconn.ConnectConfig(connectCtx, &cfg.Config)
	cancel()
	if err != nil {
		return fmt.Errorf("capture: connect for replication: %w", err)
	}
	defer hangUp(conn)

	created, err := c.ensureSlot(ctx, conn, slot)
	if err != nil {
		return err
	}
	var prev *string
	var streamMode, mode string
	if err := s.pool.QueryRow(ctx, `SELECT p.applied_lsn::text, p.stream_mode, m.mode FROM capture_progress p, capture_mode m`).
		Scan(&prev, &streamMode, &mode); err != nil {
		return fmt.Errorf("capture: read progress: %w", err)
	}
	if created != "" && mode == CaptureWAL {
		// The WAL was the capture but its slot is new: what was committed meanwhile
		// was never decoded. The tables are right; tell every viewer to start over.
		// Everything the new slot sends commits after its consistent point.
		if prev, err = c.apply(ctx, prev, created, CaptureWAL, []change{{json: resetChange("capture-restarted", 0)}}); err != nil {
			return err
		}
		streamMode = CaptureWAL
		c.logger.Warn("capture: the replication slot was missing or lost; changes committed meanwhile were not decoded, viewers start over from a snapshot", "slot", slot)
	}
	if mode != CaptureWAL {
		if _, err := s.SetCaptureMode(ctx, CaptureWAL); err != nil {
			return fmt.Errorf("capture: %w", err)
		}
	}
	err = pglogrepl.StartReplication(ctx, conn, slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + CapturePublication + "'"},
	})
	if err != nil {
		return fmt.Errorf("capture: start replication from slot %s: %w", slot, err)
	}
	c.logger.Info("capture: decoding the WAL", "slot", slot)
	c.streaming.Store(true)
	defer c.streaming.Store(false)

	txs := make(chan decodedTx, 1024)
	inFlight := semaphore.NewWeighted(int64(c.MaxInFlight + c.MaxTxBytes))
	var confirmed atomic.Uint64 // end LSN of the last transaction applied
	var applyErr error
	applyDone := make(chan struct{})
	applyCtx, stopApply := context.WithCancel(ctx)
	defer stopApply()
	recvCtx, stopReceive := context.WithCancel(ctx)
	defer stopReceive()
	go func() {
		defer close(applyDone)
		defer stopReceive() // a receive waiting for room must not wait for a dead apply
		applyErr = c.applyLoop(applyCtx, txs, prev, streamMode, &confirmed, inFlight)
	}()
	err = c.receive(recvCtx, conn, txs, &confirmed, applyDone, inFlight)
	stopApply()
	<-applyDone
	if ctx.Err() != nil {
		return nil
	}
	if applyErr != nil {
		return applyErr
	}
	return err
}

// ensureSlot makes sure the slot exists and is usable. When it had to create it (then
// the WAL before it cannot be decoded) it returns the new slot's consistent point.
func (c *Capture) ensureSlot(ctx context.Context, conn *pgconn.PgConn, slot string) (created string, err error) {
	s := c.store
	var walStatus *string
	var activePID *int32
	read := func() error {
		return s.pool.QueryRow(ctx, `SELECT wal_status, active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, slot).
			Scan(&walStatus, &activePID)
	}
	err = read()
	if err == nil && activePID != nil {
		// A previous leader's session that has not noticed it lost the lead, or one
		// that was still creating the slot when it was cut off: a slot being created
		// goes with its session, so look again once the session has ended.
		if _, err := s.pool.Exec(ctx, "SELECT pg_catalog.pg_terminate_backend($1, 5000)", *activePID); err != nil {
			return "", fmt.Errorf("capture: end the previous capture session (pid %d): %w", *activePID, err)
		}
		err = read()
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return "", fmt.Errorf("capture: read slot %s: %w", slot, err)
	default:
		if walStatus == nil || *walStatus != "lost" {
			return "", nil
		}
		c.logger.Warn("capture: the replication slot was invalidated (it held more WAL than max_slot_wal_keep_size); making a new one", "slot", slot)
		if err := pglogrepl.DropReplicationSlot(ctx, conn, slot, pglogrepl.DropReplicationSlotOptions{Wait: true}); err != nil {
			return "", fmt.Errorf("capture: drop lost slot %s: %w", slot, err)
		}
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{SnapshotAction: "NOEXPORT_SNAPSHOT"})
	if err != nil {
		return "", fmt.Errorf("capture: create replication slot %s: %w", slot, err)
	}
	c.logger.Info("capture: created replication slot", "slot", slot, "consistent_point", res.ConsistentPoint)
	return res.ConsistentPoint, nil
}

// receive reads the replication stream, hands each committed transaction to the
// applier, and tells the server what has been applied.
func (c *Capture) receive(ctx context.Context, conn *pgconn.PgConn, txs chan<- decodedTx, confirmed *atomic.Uint64,
	applyDone <-chan struct{}, inFlight *semaphore.Weighted) error {
	relations := map[uint32]*pglogrepl.RelationMessage{}
	var tx *decodedTx
	var sent, reported pglogrepl.LSN // end of the last transaction handed over; last position reported
	var idle pglogrepl.LSN           // server WAL end seen while nothing of ours was pending
	nextStatus := time.Now().Add(c.Status)
	for {
		done := pglogrepl.LSN(confirmed.Load())
		pos := done
		if done == sent && tx == nil && idle > pos {
			pos = idle
		}
		// Report on time (the server ends a silent session), and as soon as all that was
		// handed over is applied, so the slot lets go of its WAL.
		if time.Now().After(nextStatus) || pos > reported && done == sent && tx == nil {
			if err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: pos}); err != nil {
				return fmt.Errorf("capture: status update: %w", err)
			}
			reported = pos
			nextStatus = time.Now().Add(c.Status)
		}
		recvCtx, cancel := context.WithTimeout(ctx, c.Status)
		raw, err := conn.ReceiveMessage(recvCtx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if pgconn.Timeout(err) {
				select {
				case <-applyDone:
					return nil
				default:
				}
				continue
			}
			return fmt.Errorf("capture: receive: %w", err)
		}
		switch m := raw.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("capture: server: %s (%s)", m.Message, m.Code)
		case *pgproto3.CopyData:
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return fmt.Errorf("capture: keepalive: %w", err)
				}
				if tx == nil && pglogrepl.LSN(confirmed.Load()) == sent {
					idle = ka.ServerWALEnd
				}
				if ka.ReplyRequested {
					nextStatus = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				x, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return fmt.Errorf("capture: xlog data: %w", err)
				}
				msg, err := pglogrepl.Parse(x.WALData)
				if err != nil {
					return fmt.Errorf("capture: decode: %w", err)
				}
				switch msg := msg.(type) {
				case *pglogrepl.RelationMessage:
					relations[msg.RelationID] = msg
				case *pglogrepl.BeginMessage:
					tx = &decodedTx{xid: msg.Xid, limit: c.MaxTxBytes,
						at: msg.CommitTime.UTC().Format(commitTimeLayout)}
				case *pglogrepl.InsertMessage:
					tx.add(relations[msg.RelationID], 'I', msg.Tuple, nil)
				case *pglogrepl.UpdateMessage:
					tx.add(relations[msg.RelationID], 'U', msg.NewTuple, msg.OldTuple)
				case *pglogrepl.DeleteMessage:
					tx.add(relations[msg.RelationID], 'D', nil, msg.OldTuple)
				case *pglogrepl.CommitMessage:
					if tx == nil {
						continue
					}
					tx.commit, tx.end = msg.CommitLSN, msg.TransactionEndLSN
					if tx.overflow {
						c.logger.Warn("capture: a transaction changed more than the capture holds; it is logged as a reset and viewers start over from a snapshot",
							"limit_bytes", c.MaxTxBytes, "commit_lsn", tx.commit)
						tx.changes = []change{{json: resetChange("capture-overflow", tx.xid)}}
						tx.bytes = 0
					}
					if err := inFlight.Acquire(ctx, int64(tx.bytes)); err != nil {
						return nil // ended: ctx, or the apply stopped
					}
					select {
					case txs <- *tx:
					case <-applyDone:
						return nil
					case <-ctx.Done():
						return nil
					}
					sent = msg.TransactionEndLSN
					tx = nil
				}
			}
		}
	}
}

// add appends one row change to tx as JSON: {"r","o","n","k","t"}.
func (tx *decodedTx) add(rel *pglogrepl.RelationMessage, op byte, n, k *pglogrepl.TupleData) {
	if tx == nil || rel == nil {
		return
	}
	if rel.RelationName == "capture_emit" && op == 'I' {
		// TRUNCATE games CASCADE empties scores too: one reset says it all.
		ev, _ := tupleValue(rel, n, "event")
		if ev == "reset" && tx.lastReset {
			return
		}
		tx.lastReset = ev == "reset"
	} else {
		tx.lastReset = false
	}
	if rel.RelationName == "capture_mode" {
		if n != nil {
			if v, ok := tupleValue(rel, n, "mode"); ok {
				tx.switchTo = v
			}
		}
		return
	}
	if tx.overflow {
		return
	}
	defer tx.checkSize()
	if rel.RelationName == "quotes" && (op == 'I' || op == 'U' && k == nil) {
		// Built here, an event skips the SQL's checks of the log's rules: it keeps
		// them (name price, the symbol's own format as key, the size checked here).
		if payload, ok := quoteJSON(make([]byte, 0, 320), rel, n); ok && len(payload) <= 16384 {
			symbol, _ := tupleValue(rel, n, "symbol")
			tx.changes = append(tx.changes, change{key: symbol, payload: payload, at: tx.at, xid: tx.xid})
			tx.bytes += len(payload) + len(symbol) + len(tx.at) + 64
			return
		}
	}
	b := make([]byte, 0, 256)
	b = append(b, `"r":`...)
	b = appendJSONBString(b, rel.RelationName)
	b = append(b, `,"o":"`...)
	b = append(b, op)
	b = append(b, '"')
	if n != nil {
		b = append(b, `,"n":`...)
		b = appendTuple(b, rel, n)
	}
	if k != nil {
		b = append(b, `,"k":`...)
		b = appendTuple(b, rel, k)
	}
	b = append(b, `,"t":"`...)
	b = append(b, tx.at...)
	b = append(b, `","x":`...)
	b = strconv.AppendUint(b, uint64(tx.xid), 10)
	b = append(b, '}')
	tx.changes = append(tx.changes, change{json: b})
	tx.bytes += len(b) + 64
}

// checkSize makes tx overflow once its changes pass its limit, and lets them go.
func (tx *decodedTx) checkSize() {
	if tx.bytes > tx.limit {
		tx.overflow, tx.changes = true, nil
	}
}

func tupleValue(rel *pglogrepl.RelationMessage, t *pglogrepl.TupleData, name string) (string, bool) {
	for i, col := range t.Columns {
		if i < len(rel.Columns) && rel.Columns[i].Name == name && col.DataType == pglogrepl.TupleDataTypeText {
			return string(col.Data), true
		}
	}
	return "", false
}

// appendTuple writes a tuple as a JSON object of text values (null for NULL); an
// unchanged TOASTed value is left out.
func appendTuple(b []byte, rel *pglogrepl.RelationMessage, t *pglogrepl.TupleData) []byte {
	b = append(b, '{')
	first := true
	for i, col := range t.Columns {
		if i >= len(rel.Columns) || col.DataType == pglogrepl.TupleDataTypeToast {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONBString(b, rel.Columns[i].Name)
		b = append(b, ':')
		if col.DataType == pglogrepl.TupleDataTypeNull {
			b = append(b, "null"...)
		} else {
			b = appendJSONBString(b, string(col.Data))
		}
	}
	return append(b, '}')
}

// resetChange is a reset event for the log, in the transaction xid (0: none).
func resetChange(reason string, xid uint32) []byte {
	b := []byte(`"r":"capture_emit","o":"I","n":{"event":"reset","key":"","payload":"{\"reason\": \"` + reason +
		`\"}"},"t":"` + time.Now().UTC().Format(commitTimeLayout) + `"`)
	if xid != 0 {
		b = append(b, `,"x":`...)
		b = strconv.AppendUint(b, uint64(xid), 10)
	}
	return append(b, '}')
}

// applyLoop takes whatever transactions have arrived (up to MaxBatch changes) and
// applies them in one call, so a busy stream costs one log write per batch, not per
// commit.
func (c *Capture) applyLoop(ctx context.Context, txs <-chan decodedTx, prev *string, streamMode string,
	confirmed *atomic.Uint64, inFlight *semaphore.Weighted) error {
	var applied pglogrepl.LSN
	if prev != nil {
		var err error
		if applied, err = pglogrepl.ParseLSN(*prev); err != nil {
			return fmt.Errorf("capture: applied LSN %q: %w", *prev, err)
		}
	}
	var batch []change
	var lastApply time.Time
	spacing := listenerSpacing{c: c}
	for {
		var first decodedTx
		select {
		case <-ctx.Done():
			return nil
		case first = <-txs:
		}
		if wait := spacing.get(ctx) - time.Since(lastApply); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		batch = batch[:0]
		last := first
		held := 0
		take := func(tx decodedTx) {
			last = tx
			held += tx.bytes
			if applied != 0 && tx.commit <= applied {
				return // applied by an earlier leader
			}
			if streamMode == CaptureWAL {
				batch = append(batch, tx.changes...)
			}
			if tx.switchTo != "" {
				streamMode = tx.switchTo
			}
		}
		take(first)
	drain:
		for len(batch) < c.MaxBatch {
			select {
			case tx := <-txs:
				take(tx)
			default:
				break drain
			}
		}
		if last.commit > applied {
			lastApply = time.Now()
			p, err := c.apply(ctx, prev, last.commit.String(), streamMode, batch)
			if err != nil {
				return err
			}
			prev = p
			applied = last.commit
		}
		confirmed.Store(uint64(last.end))
		inFlight.Release(int64(held))
	}
}

// listenerSpacing is the capture's Spacing times the instances listening (at most
// MaxSpacing) while other instances listen, else 0; it counts them every
// listenerCheck.
type listenerSpacing struct {
	c       *Capture
	spacing time.Duration
	checked time.Time
}

const listenerCheck = 5 * time.Second

func (l *listenerSpacing) get(ctx context.Context) time.Duration {
	if l.c.Spacing <= 0 || time.Since(l.checked) < listenerCheck {
		return l.spacing
	}
	l.checked = time.Now()
	var listeners int
	err := l.c.conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, ListenerApplicationName).Scan(&listeners)
	l.spacing = 0
	if err == nil && listeners > 1 {
		l.spacing = min(time.Duration(listeners)*l.c.Spacing, l.c.MaxSpacing)
	}
	return l.spacing
}

// apply calls tickerboard_capture_append and returns the new applied LSN, at.
func (c *Capture) apply(ctx context.Context, prev *string, at string, streamMode string, changes []change) (*string, error) {
	arr := make([]byte, 0, 1024)
	arr = append(arr, '[')
	var ord, xs []int64
	var events, keys, payloads, ats []string
	for i, ch := range changes {
		if ch.json == nil {
			ord = append(ord, int64(i))
			events = append(events, "price")
			keys = append(keys, ch.key)
			payloads = append(payloads, string(ch.payload))
			ats = append(ats, ch.at)
			xs = append(xs, int64(ch.xid))
			continue
		}
		if len(arr) > 1 {
			arr = append(arr, ',')
		}
		arr = append(arr, `{"i":`...)
		arr = strconv.AppendInt(arr, int64(i), 10)
		arr = append(arr, ',')
		arr = append(arr, ch.json...)
	}
	arr = append(arr, ']')
	var first *int64
	var written, skipped, me int64
	var note *string
	// (pg_current_xact_id is the append's own transaction: the 64-bit xids of what it
	// logged are reckoned from it, as tickerboard_full_xid does.)
	err := c.conn.QueryRow(ctx, `SELECT first_id, written, skipped, note, pg_catalog.pg_current_xact_id()::text::bigint
		FROM tickerboard_capture_append($1::pg_lsn, $2::pg_lsn, $3, $4::jsonb, $5, $6, $7, $8, $9, $10)`,
		prev, at, streamMode, string(arr), ord, events, keys, payloads, ats, xs).Scan(&first, &written, &skipped, &note, &me)
	if err != nil {
		return nil, fmt.Errorf("capture: apply %d changes up to %s: %w", len(changes), at, err)
	}
	if skipped > 0 {
		c.logger.Warn("capture: skipped changes the log cannot hold", "skipped", skipped)
	}
	if n := c.Notifier; n != nil && first != nil && written > 0 {
		var built []Event
		if skipped == 0 && written == int64(len(ord)) {
			built = builtEvents(changes, len(ord), *first, uint64(me))
		}
		var text string
		if note != nil {
			text = *note
		}
		n.handOver(built, text, *first+written-1)
	}
	return &at, nil
}

// builtEvents are the events of an append that wrote only the price events built
// here (n of them; the append numbers them from first in their order), as the log
// holds them: quoteJSON writes jsonb's own text. me is the append's transaction.
func builtEvents(changes []change, n int, first int64, me uint64) []Event {
	evs := make([]Event, 0, n)
	var at string
	var created time.Time
	for _, ch := range changes {
		if ch.json != nil {
			continue // made no event (the append says what it wrote)
		}
		if ch.at != at {
			var err error
			if created, err = time.Parse(commitTimeLayout, ch.at); err != nil {
				return nil // not as this capture writes times: read them back instead
			}
			at = ch.at
		}
		evs = append(evs, Event{ID: first + int64(len(evs)), Name: "price", Key: ch.key, Payload: ch.payload,
			CreatedAt: created, Xid: fullXid(ch.xid, me)})
	}
	return evs
}

// fullXid is the 64-bit id of a decoded transaction from its 32-bit xid, as the
// schema's tickerboard_full_xid reckons it: it committed before the transaction me
// began, so it is in me's epoch or, if above me's own 32 bits, the one before.
func fullXid(xid uint32, me uint64) uint64 {
	full := me&^0xffffffff | uint64(xid)
	if uint64(xid) > me&0xffffffff {
		full -= 1 << 32
	}
	return full
}

// CaptureWithTriggers makes the triggers the capture, for an instance that leads
// without the WAL. If the WAL was the capture, what it had not yet decoded is not
// known here: viewers are told to start over (a reset), and the slot, which would
// keep WAL for nobody, is dropped.
func (s *Store) CaptureWithTriggers(ctx context.Context, logger *slog.Logger) error {
	mode, err := s.CaptureMode(ctx)
	if err != nil || mode == CaptureTriggers {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT tickerboard_capture_switch('triggers')"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT tickerboard_emit('reset', '', '{"reason": "capture-changed"}')`)
		return err
	})
	if err != nil {
		return fmt.Errorf("switch capture to triggers: %w", err)
	}
	logger.Warn("capture: switched from the WAL to triggers; viewers start over from a snapshot")
	slot := s.CaptureSlot()
	if _, err := s.pool.Exec(ctx, `SELECT pg_catalog.pg_drop_replication_slot(slot_name)
		FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND NOT active`, slot); err != nil {
		logger.Warn("capture: could not drop the WAL capture's replication slot; drop it, or it keeps WAL: SELECT pg_drop_replication_slot('"+slot+"')", "err", err)
	}
	return nil
}
