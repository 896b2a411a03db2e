/**
 * Server metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges read at scrape time and
 * histograms with cumulative `le` buckets, `_sum` and `_count`.
 */

type Labels = Readonly<Record<string, string>>;

/** `{a="x",b="y"}` with the format's escapes (backslash, quote, line feed). */
function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function numberText(n: number): string {
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return Number.isNaN(n) ? "NaN" : String(n);
}

interface Metric {
  render(): string[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(key, entry);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${numberText(value)}`);
    return lines;
  }
}

/** A value read when scraped (queue depth, requests in flight). */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: () => number,
  ) {}

  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${numberText(this.read())}`];
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    /** Upper bounds, increasing; +Inf is implied. */
    private readonly bounds: readonly number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels, counts: new Array<number>(this.bounds.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // Each bucket counts observations <= its bound: cumulative, as the format wants.
    this.bounds.forEach((b, i) => {
      if (value <= b) s.counts[i]++;
    });
    s.sum += value;
    s.count++;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: numberText(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${numberText(s.sum)}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

/** Everything the link server counts. */
export class ServerMetrics {
  readonly requests = new Counter("syncabel_http_requests_total", "HTTP requests answered, by route and status.");
  readonly sentences = new Counter("syncabel_sentences_total", "Sentences linked (results returned).");
  readonly errors = new Counter("syncabel_errors_total", "Error replies and per-sentence errors, by error code.");
  readonly dropped = new Counter("syncabel_sentences_dropped_total", "Queued sentences dropped because their client disconnected.");
  readonly batchSizes = new Histogram("syncabel_batch_sentences", "Sentences per model batch.", [1, 2, 4, 8, 16, 32, 64, 128]);
  readonly latency = new Histogram("syncabel_request_duration_seconds", "Time from request start to reply, by route.", [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);
  private readonly gauges: Gauge[];

  constructor(queueDepth: () => number, inFlight: () => number) {
    this.gauges = [
      new Gauge("syncabel_queue_sentences", "Sentences waiting for the model.", queueDepth),
      new Gauge("syncabel_requests_in_flight", "Requests being linked (queued or on the model).", inFlight),
    ];
  }

  render(): string {
    const all: Metric[] = [this.requests, this.sentences, this.errors, this.dropped, this.batchSizes, this.latency, ...this.gauges];
    return `${all.flatMap((m) => m.render()).join("\n")}\n`;
  }
}
