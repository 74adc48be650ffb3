package xds

import (
	"errors"
	"runtime"
	"sync"
)

// concurrently runs f(0) … f(n-1) on up to GOMAXPROCS goroutines and
// joins their errors: a large model's ports translate, and its kinds
// validate, independently of one another.
func concurrently(n int, f func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = f(i)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
