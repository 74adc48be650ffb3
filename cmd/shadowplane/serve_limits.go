package main

import (
	"flag"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/shadowplane/shadowplane/xds/server"
)

// xdsConnConfig holds serve's caps on xDS connections; 0 takes them from
// the file-descriptor limit (server.ConnBudget). And the penalty of a
// client whose stream went over a limit (server.Penalties).
type xdsConnConfig struct {
	max, perAddress  int
	penalty          time.Duration
	penaltyByAddress bool
}

func (c *xdsConnConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.max, "xds-max-connections", 0, "most xDS connections open at once; more are closed as soon as accepted (0: the open-file limit less a tenth kept for the admin API, metrics and files)")
	fs.IntVar(&c.perAddress, "xds-max-connections-per-address", 0, "most xDS connections open at once from one client IP address (0: half of --xds-max-connections); raise it when many proxies share an address behind NAT")
	fs.DurationVar(&c.penalty, "xds-limit-penalty", time.Second, "after a stream is closed over a limit, refuse its connection's new streams, unread, for this long, doubling with each further offence up to 32 times as long (0: no penalty)")
	fs.BoolVar(&c.penaltyByAddress, "xds-limit-penalty-per-address", false, "penalise the offending client's IP address too: refuse all its new connections and streams during the penalty (proxies sharing an address behind NAT share the penalty)")
}

// penalties are the penalties the xDS server and its listener share; nil
// without --xds-limit-penalty.
func (c xdsConnConfig) penalties() *server.Penalties {
	if c.penalty <= 0 {
		return nil
	}
	return &server.Penalties{Base: c.penalty, PerAddress: c.penaltyByAddress}
}

// limit wraps lis with the caps, logging what was chosen and why, and
// counting and logging (a line a second at most) the connections refused.
func (c xdsConnConfig) limit(lis net.Listener, log hclog.Logger, metrics *server.Metrics, penalties *server.Penalties) net.Listener {
	nofile, err := server.FileLimit()
	total, perAddress := c.max, c.perAddress
	if total == 0 && err == nil {
		total, _ = server.ConnBudget(nofile)
	}
	if perAddress == 0 && total > 0 {
		perAddress = max(1, total/2)
	}
	switch {
	case err != nil && c.max == 0:
		log.Warn("xDS connections not capped: the open-file limit is unknown; set --xds-max-connections", "error", err)
	case nofile > 0 && total > nofile:
		log.Warn("xDS connection cap is above the open-file limit: connections may take the descriptors the admin API and files need", "open_file_limit", nofile, "max_connections", total)
	}
	log.Info("xDS connections capped", "open_file_limit", nofile, "max_connections", total, "max_connections_per_address", perAddress,
		"limit_penalty", c.penalty.String(), "limit_penalty_per_address", c.penaltyByAddress)
	return server.LimitListener(lis, server.ConnLimits{
		MaxConnections: total,
		MaxPerAddress:  perAddress,
		Penalties:      penalties,
		OnRefused:      metrics.ConnRefused,
		Log: func(err error, refused int) {
			log.Warn("xDS connection refused: over a cap", "error", err.Error(), "refused_since_last_line", refused)
		},
	})
}
