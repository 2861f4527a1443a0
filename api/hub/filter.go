package hub

import "github.com/tickerboard/tickerboard/store"

// Topic bits, as named in ?topics=.
const (
	TopicPrice uint8 = 1 << iota // price events
	TopicScore                   // score and play events
	TopicAll   = TopicPrice | TopicScore
)

// Filter selects the events one stream receives. Nil sets mean "all".
type Filter struct {
	Topics  uint8
	Symbols map[string]struct{}
	Games   map[int64]struct{}
}

// Match reports whether the stream wants frame f.
func (flt *Filter) Match(f *Frame) bool {
	if f.Topic&flt.Topics == 0 {
		return false
	}
	switch f.Name {
	case "price":
		if flt.Symbols != nil {
			_, ok := flt.Symbols[f.Key]
			return ok
		}
	case "score", "play":
		if flt.Games != nil {
			_, ok := flt.Games[f.Game]
			return ok
		}
	}
	return true
}

// snapshotFilter is the same selection for the database's snapshot query.
func (flt *Filter) snapshotFilter() store.Filter {
	sf := store.Filter{Quotes: flt.Topics&TopicPrice != 0, Scores: flt.Topics&TopicScore != 0}
	if flt.Symbols != nil {
		sf.Symbols = make([]string, 0, len(flt.Symbols))
		for s := range flt.Symbols {
			sf.Symbols = append(sf.Symbols, s)
		}
	}
	if flt.Games != nil {
		sf.Games = make([]int64, 0, len(flt.Games))
		for g := range flt.Games {
			sf.Games = append(sf.Games, g)
		}
	}
	return sf
}
