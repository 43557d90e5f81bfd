#!/bin/sh
# An exec exporter for the proxy example: prints the text format on stdout.
read -r up _ < /proc/uptime
printf '# HELP demo_uptime_seconds Seconds since boot, from a script.\n# TYPE demo_uptime_seconds gauge\ndemo_uptime_seconds %s\n' "$up"
