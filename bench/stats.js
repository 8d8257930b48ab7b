// Latency summaries shared by the Node bench clients (fanout_client.js, rooms_client.js).
'use strict';

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const r2 = (x) => (x == null ? null : Math.round(x * 100) / 100);

/** {count, p50, p90, p99, max} of the values (nearest rank), rounded to 0.01. */
function summary(values) {
  const s = Float64Array.from(values).sort();
  return { count: s.length, p50: r2(pct(s, 50)), p90: r2(pct(s, 90)), p99: r2(pct(s, 99)), max: r2(s[s.length - 1]) };
}

module.exports = { r2, summary };
