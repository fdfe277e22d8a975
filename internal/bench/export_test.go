package bench

// Gate is CompareReport.gate, for the tests.
func Gate(rep *CompareReport, vs []Variant) { rep.gate(vs) }
