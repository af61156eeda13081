package tlsws

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// The shape test's classifiers (TestShapeClassifier) and what they read:
// a passive censor's view of a connection's first 20 application-data
// records, and the report of which of those features tell the classes
// apart.

// features: for each of the first 20 records, size signed by direction
// (+ up, - down) and log(1+gap in ms) since the previous record.
func features(recs []tlsRecord) []float64 {
	f := make([]float64, 40)
	var prev time.Duration
	for i, r := range recs {
		if i == 20 {
			break
		}
		s := float64(r.size)
		if !r.up {
			s = -s
		}
		f[2*i] = s
		if i > 0 {
			f[2*i+1] = math.Log1p(float64(r.at-prev) / float64(time.Millisecond))
		}
		prev = r.at
	}
	return f
}

// A classifier is trained on labelled feature vectors (true: tunnel) and
// returns a predictor.
type classifier func(x [][]float64, y []bool) func([]float64) bool

var shapeClassifiers = []struct {
	name  string
	train classifier
}{
	{"nearest centroid", trainCentroid},
	{"5-nearest neighbours", trainKNN},
	{"decision stump", trainStump},
}

// shapeSplit is one random split of the two classes' feature vectors
// into a training half and a test half of each, standardised on the
// training half (true: tunnel).
type shapeSplit struct {
	trX, teX [][]float64
	trY, teY []bool
	mean, sd []float64
}

// splitShapes splits tunnels and browser at random (seed) into halves.
func splitShapes(tunnels, browser [][]tlsRecord, seed uint64) shapeSplit {
	rng := rand.New(rand.NewPCG(seed, 2))
	var s shapeSplit
	for _, class := range []struct {
		xs  [][]tlsRecord
		tun bool
	}{{tunnels, true}, {browser, false}} {
		for k, i := range rng.Perm(len(class.xs)) {
			if k < len(class.xs)/2 {
				s.trX, s.trY = append(s.trX, features(class.xs[i])), append(s.trY, class.tun)
			} else {
				s.teX, s.teY = append(s.teX, features(class.xs[i])), append(s.teY, class.tun)
			}
		}
	}
	s.mean, s.sd = standardisation(s.trX)
	for _, set := range [][][]float64{s.trX, s.teX} {
		for i, v := range set {
			o := make([]float64, len(v))
			for j := range v {
				o[j] = (v[j] - s.mean[j]) / s.sd[j]
			}
			set[i] = o
		}
	}
	return s
}

// accuracy trains on the split's training half and returns the accuracy
// on its test half; the features in drop are left out (set to the mean).
func (s shapeSplit) accuracy(train classifier, drop ...int) float64 {
	blank := func(set [][]float64) [][]float64 {
		if len(drop) == 0 {
			return set
		}
		out := make([][]float64, len(set))
		for i, v := range set {
			out[i] = append([]float64{}, v...)
			for _, j := range drop {
				out[i][j] = 0
			}
		}
		return out
	}
	predict := train(blank(s.trX), s.trY)
	right := 0
	for i, v := range blank(s.teX) {
		if predict(v) == s.teY[i] {
			right++
		}
	}
	return float64(right) / float64(len(s.teX))
}

// evaluate returns a classifier's accuracy on the test half of the split
// drawn from seed, trained on its other half.
func evaluate(train classifier, tunnels, browser [][]tlsRecord, seed uint64) float64 {
	return splitShapes(tunnels, browser, seed).accuracy(train)
}

func standardisation(x [][]float64) (mean, sd []float64) {
	d := len(x[0])
	mean, sd = make([]float64, d), make([]float64, d)
	for _, v := range x {
		for j := range v {
			mean[j] += v[j] / float64(len(x))
		}
	}
	for _, v := range x {
		for j := range v {
			sd[j] += (v[j] - mean[j]) * (v[j] - mean[j]) / float64(len(x))
		}
	}
	// A feature the training half never varies (the 17th record, which
	// few connections have) keeps its scale: divided by a tiny deviation,
	// one test vector's value there outweighed every other feature to the
	// last bit, tying the distances to both classes.
	for j := range sd {
		sd[j] = math.Sqrt(sd[j])
		if sd[j] < 1e-6 {
			sd[j] = 1
		}
	}
	return mean, sd
}

func sqDist(a, b []float64) float64 {
	d := 0.0
	for j := range a {
		d += (a[j] - b[j]) * (a[j] - b[j])
	}
	return d
}

func trainCentroid(x [][]float64, y []bool) func([]float64) bool {
	cT, cB := make([]float64, len(x[0])), make([]float64, len(x[0]))
	nT, nB := 0.0, 0.0
	for i, v := range x {
		c := cB
		if y[i] {
			c, nT = cT, nT+1
		} else {
			nB++
		}
		for j := range v {
			c[j] += v[j]
		}
	}
	for j := range cT {
		cT[j] /= nT
		cB[j] /= nB
	}
	return func(v []float64) bool { return sqDist(v, cT) < sqDist(v, cB) }
}

func trainKNN(x [][]float64, y []bool) func([]float64) bool {
	return func(v []float64) bool {
		idx := make([]int, len(x))
		d := make([]float64, len(x))
		for i := range x {
			idx[i], d[i] = i, sqDist(v, x[i])
		}
		sort.Slice(idx, func(a, b int) bool { return d[idx[a]] < d[idx[b]] })
		votes := 0
		for _, i := range idx[:5] {
			if y[i] {
				votes++
			}
		}
		return votes >= 3
	}
}

// trainStump picks the feature, threshold and side that classify the
// training set best.
func trainStump(x [][]float64, y []bool) func([]float64) bool {
	st := fitStump(x, y)
	return func(v []float64) bool { return (v[st.feature] > st.threshold) == st.above }
}

// stump is a decision stump: tunnel when feature > threshold equals above.
type stump struct {
	feature   int
	threshold float64
	above     bool
	right     int // training vectors it classifies right
}

func fitStump(x [][]float64, y []bool) stump {
	best := stump{above: true, right: -1}
	for j := range x[0] {
		for _, cand := range x {
			th := cand[j]
			right := 0
			for i, v := range x {
				if (v[j] > th) == y[i] {
					right++
				}
			}
			for _, r := range []struct {
				above bool
				n     int
			}{{true, right}, {false, len(x) - right}} {
				if r.n > best.right {
					best = stump{j, th, r.above, r.n}
				}
			}
		}
	}
	return best
}

// featureName names feature j of features: the record (from 1) and
// whether it is its size or its gap.
func featureName(j int) string {
	if j%2 == 0 {
		return fmt.Sprintf("record %d size", j/2+1)
	}
	return fmt.Sprintf("record %d gap", j/2+1)
}

// featureValue writes a feature's value in its own unit: a size signed
// by direction, a gap in milliseconds.
func featureValue(j int, v float64) string {
	if j%2 == 0 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2fms", math.Expm1(v))
}

// explainShapes reports what tells the classes apart, as an attacker
// would look: the stump's rule on the first split, the features that
// best separate the classes alone (a threshold's accuracy on all of
// them, with each class's 10th, 50th and 90th percentiles), and the
// features without which 5-NN loses most.
func explainShapes(tunnels, browser [][]tlsRecord) []string {
	var out []string
	s := splitShapes(tunnels, browser, 1)
	st := fitStump(s.trX, s.trY)
	side := "<="
	if st.above {
		side = ">"
	}
	out = append(out, fmt.Sprintf("stump (split 1): tunnel when %s %s %s (%d of %d training vectors right, test accuracy %.3f)",
		featureName(st.feature), side, featureValue(st.feature, st.threshold*s.sd[st.feature]+s.mean[st.feature]), st.right, len(s.trX), s.accuracy(trainStump)))
	column := func(recs [][]tlsRecord, j int) []float64 {
		var c []float64
		for _, r := range recs {
			c = append(c, features(r)[j])
		}
		sort.Float64s(c)
		return c
	}
	type sep struct {
		j   int
		acc float64
	}
	var seps []sep
	for j := range 40 {
		seps = append(seps, sep{j, thresholdAccuracy(column(tunnels, j), column(browser, j))})
	}
	sort.SliceStable(seps, func(a, b int) bool { return seps[a].acc > seps[b].acc })
	pct := func(c []float64, j int) string {
		var b strings.Builder
		for _, p := range []float64{0.1, 0.5, 0.9} {
			fmt.Fprintf(&b, " %s", featureValue(j, c[int(p*float64(len(c)-1))]))
		}
		return b.String()
	}
	for _, f := range seps[:6] {
		out = append(out, fmt.Sprintf("alone: %s separates %.3f; tunnels%s, Chromium%s (10th/50th/90th percentile)",
			featureName(f.j), f.acc, pct(column(tunnels, f.j), f.j), pct(column(browser, f.j), f.j)))
	}
	all := s.accuracy(trainKNN)
	var drops []sep
	for j := range 40 {
		drops = append(drops, sep{j, all - s.accuracy(trainKNN, j)})
	}
	sort.SliceStable(drops, func(a, b int) bool { return drops[a].acc > drops[b].acc })
	var b strings.Builder
	for _, d := range drops[:5] {
		fmt.Fprintf(&b, "; without %s %+.3f", featureName(d.j), -d.acc)
	}
	out = append(out, fmt.Sprintf("5-NN (split 1) %.3f%s", all, b.String()))
	return out
}

// thresholdAccuracy returns the best accuracy of one threshold between
// two sorted samples (either side), weighting the classes equally.
func thresholdAccuracy(a, b []float64) float64 {
	best := 0.5
	for _, th := range append(append([]float64{}, a...), b...) {
		ia := sort.SearchFloat64s(a, math.Nextafter(th, math.Inf(1)))
		ib := sort.SearchFloat64s(b, math.Nextafter(th, math.Inf(1)))
		acc := (float64(len(a)-ia)/float64(len(a)) + float64(ib)/float64(len(b))) / 2
		best = max(best, acc, 1-acc)
	}
	return best
}
