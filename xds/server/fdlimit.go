package server

// fdReserve is the part of the file-descriptor limit that xDS connections
// never take: the admin API and its clients (the web view, the CLI),
// Prometheus scrapes and metric queries, the policy and state files and
// their watches, the Kubernetes client, webhooks and logs. A tenth of the
// limit, at least 256 (at most half of a very small limit).
func fdReserve(nofile int) int {
	return max(min(256, nofile/2), nofile/10)
}

// ConnBudget is the default ConnLimits for a process allowed nofile open
// files: all but fdReserve for xDS connections in total, and half of that
// from any one address, so that one host full of idle connections leaves
// the other half to healthy proxies elsewhere. At a limit of 20,000:
// 18,000 connections, 9,000 from one address.
func ConnBudget(nofile int) (total, perAddress int) {
	total = nofile - fdReserve(nofile)
	return total, max(1, total/2)
}
