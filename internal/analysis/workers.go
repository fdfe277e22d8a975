package analysis

import (
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
)

// Workers makes n stages, each with an analyzer of its own from
// newAnalyzer, as functions that analyse one frame and keep nothing: the
// workers capacity.Measure times (the demo's calibration, the soak's
// capacity). Each function is for one goroutine. closeAll closes the
// stages, and so their analyzers.
func Workers(newAnalyzer func() (Analyzer, error), n int, lim imagex.Limits) (workers []func(data []byte) error, closeAll func(), err error) {
	var stages []*Stage
	closeAll = func() {
		for _, s := range stages {
			s.Close()
		}
	}
	for range n {
		an, err := newAnalyzer()
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		st := NewStage(an, lim)
		stages = append(stages, st)
		workers = append(workers, func(data []byte) error {
			var res frame.Result
			return st.Analyze(data, &res)
		})
	}
	return workers, closeAll, nil
}
