#!/bin/sh
# Entry point of the one Scoreboard image: the first argument picks the service.
#   api | worker | sse | topics       -> scoreboard-api | scoreboard-worker | scoreboard-sse | scoreboard-topics
#   scoreboard-* or any other command -> run as given (e.g. `python -c ...` for debugging)
# `exec` keeps the service as the process that receives SIGTERM, so it shuts down cleanly.
set -eu
case "${1:-}" in
  api|worker|sse|topics)
    service="scoreboard-$1"
    shift
    exec "$service" "$@"
    ;;
  "")
    echo "usage: IMAGE {api|worker|sse|topics} [args...]" >&2
    exit 64
    ;;
  *)
    exec "$@"
    ;;
esac
