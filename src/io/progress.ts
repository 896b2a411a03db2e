import type { Writable } from "node:stream";

export interface ProgressOptions {
  readonly total: number;
  readonly label: string;
  readonly stream: Writable;
  /** Redraw one line in place (a terminal), or print a plain line now and then (logs, CI). */
  readonly tty: boolean;
  /** Minimum milliseconds between plain lines (default 5000) or redraws (default 100). */
  readonly intervalMs?: number;
  readonly unit?: string;
}

/** A progress bar with rate and ETA on a terminal; plain progress lines elsewhere. */
export class Progress {
  private done = 0;
  /** Items found already done (a resume): counted in the total, never in the rate. */
  private skipped = 0;
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly interval: number;

  constructor(private readonly options: ProgressOptions) {
    this.interval = options.intervalMs ?? (options.tty ? 100 : 5000);
  }

  /** Count `n` more items done (items skipped on resume may be counted with `start` instead). */
  tick(n = 1, extra = ""): void {
    this.done += n;
    const now = Date.now();
    if (now - this.lastDraw >= this.interval || this.done >= this.options.total) {
      this.lastDraw = now;
      this.draw(extra);
    }
  }

  /** Count `n` items done by an earlier run: they move the bar but not the rate or the ETA. */
  skip(n: number, extra = ""): void {
    this.skipped += n;
    this.tick(n, extra);
  }

  get count(): number {
    return this.done;
  }

  elapsedSeconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  private draw(extra: string): void {
    const { total, label, stream, tty } = this.options;
    const unit = this.options.unit ?? "items";
    const secs = Math.max(this.elapsedSeconds(), 1e-3);
    const rate = (this.done - this.skipped) / secs;
    const left = total - this.done;
    const eta = rate > 0 && left > 0 ? formatSeconds(left / rate) : "-";
    const pct = total > 0 ? Math.min(100, (100 * this.done) / total) : 100;
    const text = `${label} ${this.done}/${total} ${unit} (${pct.toFixed(1)}%) ${rate.toFixed(1)}/s ETA ${eta}${extra ? ` ${extra}` : ""}`;
    if (tty) {
      const width = 24;
      const filled = Math.round((pct / 100) * width);
      stream.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}\u001b[K`);
    } else {
      stream.write(`${text}\n`);
    }
  }

  /** Final line (a newline after the in-place bar). */
  finish(extra = ""): void {
    this.draw(extra);
    if (this.options.tty) this.options.stream.write("\n");
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "-";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}
