package feeds

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// The price model. Every tick, every instrument trades: its log price takes a step of
// geometric Brownian motion driven by a market factor, its sector's factor and its own
// noise (so a sector moves together and the whole market a little), with a rare jump
// for news; volume accrues with the intraday U shape. Only some instruments are
// published per tick (the rate decides how many); an unpublished move accrues and is
// published with its next update. The market holds no prices: the database applies
// each move as a factor, so a price typed into psql is moved from, not overwritten.

const (
	tradingDaysPerYear = 252
	marketWeight       = 0.5 // loading on the market factor: cross-sector correlation 0.25
	sectorWeight       = 0.5 // loading on the sector factor: in-sector correlation 0.5
	jumpsPerDay        = 0.1 // news jumps per instrument per trading day
	jumpSize           = 1.5 // a jump's standard deviation, in daily volatilities
	overnightShare     = 0.2 // share of a day's variance that happens overnight
	// intradayShare is the share of a day's variance left to the session's diffusion, so
	// that with gaps and jumps an instrument's volatility is the one configured.
	intradayShare      = 1 - overnightShare - jumpsPerDay*jumpSize*jumpSize
	maxTicksPerSecond  = 20    // above this rate, ticks carry several updates
	minSharesPerUpdate = 100   // a round lot
	volumeNoise        = 0.6   // lognormal sigma of volume per update
	jumpVolumeBoost    = 6.0   // volume multiplier on a news jump
	marketSeedStream   = 0x7e4 // PCG stream of the price feed
)

// schedule is how the price rate is cut into ticks: at low rates one update per tick
// at the rate; above maxTicksPerSecond, several updates per tick (one statement each),
// and never the same symbol twice in a tick.
type schedule struct {
	perSecond float64 // ticks per second
	perTick   float64 // updates per tick, on average
}

func newSchedule(rate float64, symbols int) schedule {
	if symbols == 0 {
		return schedule{perSecond: 1}
	}
	tps := max(min(rate, maxTicksPerSecond), rate/float64(symbols))
	return schedule{perSecond: tps, perTick: rate / tps}
}

func (s schedule) interval() time.Duration {
	return time.Duration(float64(time.Second) / s.perSecond)
}

// market is the price model's state between ticks.
type market struct {
	rng         *rand.Rand
	inst        []Instrument
	sector      []int // index into the sector factors, per instrument
	sectors     int
	pending     []float64 // log return accrued since last published, per instrument
	volume      []float64 // shares traded since last published
	order       []int     // scratch for sampling who is published
	sched       schedule
	carry       float64 // fractional updates owed from earlier ticks
	tick        int     // ticks into the trading day
	ticksPerDay int
	dt          float64 // years per tick
	factors     []float64
}

func newMarket(seed int64, inst []Instrument, sched schedule, tradingDay time.Duration) *market {
	m := &market{
		rng:   rand.New(rand.NewPCG(uint64(seed), marketSeedStream)),
		sched: sched,
	}
	m.ticksPerDay = max(1, int(math.Round(tradingDay.Seconds()*sched.perSecond)))
	m.dt = 1.0 / tradingDaysPerYear / float64(m.ticksPerDay)
	m.setInstruments(inst)
	return m
}

// setInstruments replaces the instruments, keeping what has accrued for those that stay.
func (m *market) setInstruments(inst []Instrument) {
	oldPending, oldVolume := map[string]float64{}, map[string]float64{}
	for i, in := range m.inst {
		oldPending[in.Symbol], oldVolume[in.Symbol] = m.pending[i], m.volume[i]
	}
	sectorIdx := map[string]int{}
	m.inst = inst
	m.sector = make([]int, len(inst))
	m.pending = make([]float64, len(inst))
	m.volume = make([]float64, len(inst))
	m.order = make([]int, len(inst))
	for i, in := range inst {
		idx, ok := sectorIdx[in.Sector]
		if !ok {
			idx = len(sectorIdx)
			sectorIdx[in.Sector] = idx
		}
		m.sector[i] = idx
		m.pending[i], m.volume[i] = oldPending[in.Symbol], oldVolume[in.Symbol]
		m.order[i] = i
	}
	m.sectors = len(sectorIdx)
	m.factors = make([]float64, 1+m.sectors)
}

// intraday is the U shape of a trading day at fraction u of it: busier and more
// volatile at the open and the close. Both shapes average about 1 over the day.
func intraday(u float64) (volatility, volume float64) {
	x := (2*u - 1) * (2*u - 1) // 1 at the edges, 0 at midday
	return 0.8 + 0.6*x, 0.55 + 1.35*x
}

// dayOver reports whether the trading day has ended: the next step opens a new one.
func (m *market) dayOver() bool { return m.tick >= m.ticksPerDay }

// step advances the market one tick and returns the moves to publish, or, when the
// trading day is over, the opening gaps of the next day (newDay true).
func (m *market) step() (moves []store.QuoteMove, newDay bool) {
	if m.tick >= m.ticksPerDay {
		m.tick = 0
		return m.open(), true
	}
	volMul, volumeMul := intraday(float64(m.tick) / float64(m.ticksPerDay))
	m.tick++
	for i := range m.factors {
		m.factors[i] = m.rng.NormFloat64()
	}
	idio := math.Sqrt(1 - marketWeight*marketWeight - sectorWeight*sectorWeight)
	sqrtDt := math.Sqrt(m.dt * intradayShare)
	jumpP := jumpsPerDay / float64(m.ticksPerDay)
	for i, in := range m.inst {
		sigma := in.Volatility * volMul
		z := marketWeight*m.factors[0] + sectorWeight*m.factors[1+m.sector[i]] + idio*m.rng.NormFloat64()
		r := (in.Drift-sigma*sigma/2)*m.dt + sigma*sqrtDt*z // m.dt: the drift belongs to the session
		shares := float64(in.AvgVolume) / float64(m.ticksPerDay) * volumeMul * math.Exp(volumeNoise*m.rng.NormFloat64()-volumeNoise*volumeNoise/2)
		if m.rng.Float64() < jumpP {
			r += jumpSize * in.Volatility / math.Sqrt(tradingDaysPerYear) * m.rng.NormFloat64()
			shares *= jumpVolumeBoost
		}
		m.pending[i] += r
		m.volume[i] += shares
	}
	return m.publish(), false
}

// publish picks this tick's instruments at random (each at most once) and hands over
// what they have accrued.
func (m *market) publish() []store.QuoteMove {
	m.carry += m.sched.perTick
	k := min(int(m.carry), len(m.inst))
	m.carry -= float64(k)
	if k == 0 {
		return nil
	}
	moves := make([]store.QuoteMove, 0, k)
	for j := range k { // a partial Fisher-Yates shuffle of m.order
		n := j + m.rng.IntN(len(m.order)-j)
		m.order[j], m.order[n] = m.order[n], m.order[j]
		i := m.order[j]
		moves = append(moves, store.QuoteMove{
			Symbol: m.inst[i].Symbol,
			Factor: math.Exp(m.pending[i]),
			Volume: roundLot(m.volume[i]),
		})
		m.pending[i], m.volume[i] = 0, 0
	}
	return moves
}

// open starts a trading day: every instrument gaps by an overnight move (plus what it
// accrued unpublished at the close) and its volume starts from the opening trade.
func (m *market) open() []store.QuoteMove {
	for i := range m.factors {
		m.factors[i] = m.rng.NormFloat64()
	}
	idio := math.Sqrt(1 - marketWeight*marketWeight - sectorWeight*sectorWeight)
	night := math.Sqrt(overnightShare / tradingDaysPerYear)
	gaps := make([]store.QuoteMove, len(m.inst))
	for i, in := range m.inst {
		z := marketWeight*m.factors[0] + sectorWeight*m.factors[1+m.sector[i]] + idio*m.rng.NormFloat64()
		r := m.pending[i] + in.Volatility*night*z
		gaps[i] = store.QuoteMove{
			Symbol: in.Symbol,
			Factor: math.Exp(r),
			Volume: roundLot(float64(in.AvgVolume) * 0.01 * math.Exp(volumeNoise*m.rng.NormFloat64())),
		}
		m.pending[i], m.volume[i] = 0, 0
	}
	return gaps
}

func roundLot(shares float64) int64 {
	return max(minSharesPerUpdate, int64(math.Round(shares/minSharesPerUpdate))*minSharesPerUpdate)
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func pow10(x float64) float64 { return math.Pow(10, x) }
