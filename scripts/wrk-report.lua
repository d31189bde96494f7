-- Prints one line per wrk run: requests/s, latency percentiles, and errors (socket errors, and
-- answers that were not 2xx or 3xx).
done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("requests/s=%.0f p50=%.2fms p95=%.2fms p99=%.2fms requests=%d socket_errors=%d non_2xx=%s\n",
    summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.requests, errors, summary.errors.status))
end
