// The server's counters and histograms, and their rendering in the Prometheus text format (0.0.4).

/** Histogram bucket bounds in seconds for queue and run time. */
export const DURATION_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A Prometheus histogram of durations in seconds. */
class Histogram {
  readonly counts = DURATION_BUCKETS_S.map(() => 0);
  count = 0;
  sumS = 0;
  observe(seconds: number): void {
    this.count++;
    this.sumS += seconds;
    DURATION_BUCKETS_S.forEach((b, i) => {
      if (seconds <= b) this.counts[i]!++;
    });
  }
}

/** Gauges read at scrape time, per plan. */
export interface PlanGauges {
  planId: string;
  inFlight: number;
  queueDepth: number;
  workers: number;
  queueLimit: number;
}

/** What `metrics()` of a running server returns. */
export interface MetricsSnapshot {
  /** Finished infer requests by plan, then by outcome ('ok' or an error code). */
  requests: Record<string, Record<string, number>>;
  /** Frames refused before they named a request (malformed, too large, refused hellos), by error code. */
  framesRejected: Record<string, number>;
  /** Per plan: count and sum of queue and run times in ms. */
  queueMs: Record<string, { count: number; sum: number }>;
  runMs: Record<string, { count: number; sum: number }>;
  inFlight: Record<string, number>;
  queueDepth: Record<string, number>;
  connections: number;
  receivedBytes: number;
  sentBytes: number;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
}

/** The server's metrics: counters and histograms it records, gauges it reads when scraped. */
export class ServerMetrics {
  private readonly requests = new Map<string, Map<string, number>>();
  private readonly rejected = new Map<string, number>();
  private readonly queue = new Map<string, Histogram>();
  private readonly run = new Map<string, Histogram>();
  connections = 0;
  receivedBytes = 0;
  sentBytes = 0;

  constructor(private readonly gauges: () => PlanGauges[]) {}

  /** Count one finished infer request of `planId` with `outcome` ('ok' or an error code). */
  request(planId: string, outcome: string): void {
    let byOutcome = this.requests.get(planId);
    if (!byOutcome) this.requests.set(planId, (byOutcome = new Map()));
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  }

  /** Count a frame refused before it named a request. */
  frameRejected(code: string): void {
    this.rejected.set(code, (this.rejected.get(code) ?? 0) + 1);
  }

  /** Record the queue and run time of a request that reached a session. */
  timing(planId: string, queueMs: number, runMs: number): void {
    for (const [map, ms] of [[this.queue, queueMs], [this.run, runMs]] as const) {
      let h = map.get(planId);
      if (!h) map.set(planId, (h = new Histogram()));
      h.observe(ms / 1000);
    }
  }

  /** A plain-object copy of every metric. */
  snapshot(): MetricsSnapshot {
    const hist = (m: Map<string, Histogram>): Record<string, { count: number; sum: number }> => Object.fromEntries([...m].map(([p, h]) => [p, { count: h.count, sum: h.sumS * 1000 }]));
    const gauges = this.gauges();
    return {
      requests: Object.fromEntries([...this.requests].map(([p, m]) => [p, Object.fromEntries(m)])),
      framesRejected: Object.fromEntries(this.rejected),
      queueMs: hist(this.queue),
      runMs: hist(this.run),
      inFlight: Object.fromEntries(gauges.map((g) => [g.planId, g.inFlight])),
      queueDepth: Object.fromEntries(gauges.map((g) => [g.planId, g.queueDepth])),
      connections: this.connections,
      receivedBytes: this.receivedBytes,
      sentBytes: this.sentBytes,
    };
  }

  /** Every metric in the Prometheus text exposition format. */
  prometheus(): string {
    const lines: string[] = [];
    const head = (name: string, type: string, help: string): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    head('edgesplit_requests_total', 'counter', 'Infer requests finished, by plan and outcome (ok or an error code).');
    for (const [plan, m] of this.requests) for (const [outcome, n] of m) lines.push(`edgesplit_requests_total{plan="${escapeLabel(plan)}",outcome="${escapeLabel(outcome)}"} ${n}`);
    head('edgesplit_frames_rejected_total', 'counter', 'Frames refused before they named a request (malformed, too large, refused hello), by error code.');
    for (const [code, n] of this.rejected) lines.push(`edgesplit_frames_rejected_total{code="${escapeLabel(code)}"} ${n}`);
    for (const [name, map, help] of [
      ['edgesplit_queue_duration_seconds', this.queue, 'Time requests waited for a free session.'],
      ['edgesplit_run_duration_seconds', this.run, 'Time sessions took to run requests.'],
    ] as const) {
      head(name, 'histogram', help);
      for (const [plan, h] of map) {
        const l = `plan="${escapeLabel(plan)}"`;
        DURATION_BUCKETS_S.forEach((b, i) => lines.push(`${name}_bucket{${l},le="${b}"} ${h.counts[i]}`));
        lines.push(`${name}_bucket{${l},le="+Inf"} ${h.count}`, `${name}_sum{${l}} ${fmt(h.sumS)}`, `${name}_count{${l}} ${h.count}`);
      }
    }
    const gauges = this.gauges();
    for (const [name, key, help] of [
      ['edgesplit_in_flight_requests', 'inFlight', 'Requests running on a session now.'],
      ['edgesplit_queue_depth', 'queueDepth', 'Requests waiting for a session now.'],
      ['edgesplit_workers', 'workers', 'Sessions serving the plan.'],
      ['edgesplit_queue_limit', 'queueLimit', 'Requests that may wait before ERR_OVERLOADED.'],
    ] as const) {
      head(name, 'gauge', help);
      for (const g of gauges) lines.push(`${name}{plan="${escapeLabel(g.planId)}"} ${g[key]}`);
    }
    head('edgesplit_connections', 'gauge', 'Open WebSocket connections.');
    lines.push(`edgesplit_connections ${this.connections}`);
    head('edgesplit_received_bytes_total', 'counter', 'WebSocket message bytes received.');
    lines.push(`edgesplit_received_bytes_total ${this.receivedBytes}`);
    head('edgesplit_sent_bytes_total', 'counter', 'WebSocket message bytes sent.');
    lines.push(`edgesplit_sent_bytes_total ${this.sentBytes}`);
    return lines.join('\n') + '\n';
  }
}
