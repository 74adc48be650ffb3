package serveproc

import (
	"errors"
	"net"
)

// FreeAddrs returns n distinct free loopback addresses (127.0.0.1:port) for
// servers a test starts with fixed addresses, as a restart on the same
// ports needs. Every listener is held until all are chosen: one closed at
// once can be handed out again by the next (xDS and admin were once given
// the same port).
func FreeAddrs(n int) ([]string, error) {
	addrs := make([]string, n)
	var errs []error
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			errs = append(errs, err)
			break
		}
		defer l.Close()
		addrs[i] = l.Addr().String()
	}
	return addrs, errors.Join(errs...)
}
