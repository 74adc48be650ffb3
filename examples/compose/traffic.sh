#!/bin/sh
# Traffic for the compose demo, like the seeds' curl loops: one loop per
# argument, each sending requests for $HOST to $TARGET one after another.
#
#   traffic.sh -:0.1                      # no country header, every 0.1 s
#   traffic.sh wakanda:0.05 gondor:0.2    # two segments, two loops
#
# An argument is COUNTRY:PAUSE; COUNTRY "-" sends no country header. Every
# $REPORT_EVERY seconds each loop prints one line: how many requests it
# sent, which version answered them (the sample app answers
# "version=v1"), how many were 5xx and how many got no answer at all
# (Envoy not ready yet, or no route).
set -u

TARGET=${TARGET:-http://envoy:10000/}
HOST=${HOST:-example.com}
REPORT_EVERY=${REPORT_EVERY:-10}

if [ $# -eq 0 ]; then
	echo "usage: traffic.sh COUNTRY:PAUSE [COUNTRY:PAUSE...]  (COUNTRY - for none)" >&2
	exit 2
fi

pct() { # part whole
	if [ "$2" -gt 0 ]; then echo $(($1 * 100 / $2)); else echo 0; fi
}

loop() { # country pause
	country=$1
	pause=$2
	if [ "$country" = - ]; then
		label="no country"
		set --
	else
		label="country: $country"
		set -- -H "country: $country"
	fi
	total=0 v1=0 v2=0 other=0 errors=0 none=0
	since=$(date +%s)
	while :; do
		# The body ("version=v1" or "injected error version=v2"), then the
		# status code; 000 when no HTTP answer came back.
		out=$(curl -s -m 2 -H "Host: $HOST" "$@" -w ' %{http_code}' "$TARGET" 2>/dev/null)
		code=${out##* }
		total=$((total + 1))
		case $out in
		*version=v1*) v1=$((v1 + 1)) ;;
		*version=v2*) v2=$((v2 + 1)) ;;
		*) if [ "$code" = 000 ]; then none=$((none + 1)); else other=$((other + 1)); fi ;;
		esac
		case $code in 5??) errors=$((errors + 1)) ;; esac
		now=$(date +%s)
		if [ $((now - since)) -ge "$REPORT_EVERY" ]; then
			echo "[$label] $total requests in $((now - since))s: v1 $v1 ($(pct $v1 $total)%), v2 $v2 ($(pct $v2 $total)%), other $other, 5xx $errors, no answer $none"
			total=0 v1=0 v2=0 other=0 errors=0 none=0
			since=$now
		fi
		sleep "$pause"
	done
}

echo "sending requests for Host: $HOST to $TARGET: $*"
pids=
for spec in "$@"; do
	case $spec in
	*:*)
		loop "${spec%%:*}" "${spec#*:}" &
		pids="$pids $!"
		;;
	*)
		echo "traffic.sh: $spec: want COUNTRY:PAUSE" >&2
		exit 2
		;;
	esac
done
# Stop every loop on SIGTERM (docker compose stop) instead of waiting for
# the 10 s kill.
trap 'kill $pids 2>/dev/null; exit 0' TERM INT
wait
