import { PassThrough } from "node:stream";
import type { CliIO } from "../../src/cli/io.js";

/** A CliIO for running a command in-process: stdin from `input`, stdout/stderr captured as text. */
export function captureIO(input = ""): { io: CliIO; out: () => string; err: () => string } {
  const stdin = new PassThrough();
  stdin.end(input);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = "";
  let e = "";
  stdout.on("data", (d: Buffer) => (o += d.toString("utf8")));
  stderr.on("data", (d: Buffer) => (e += d.toString("utf8")));
  return { io: { stdin, stdout, stderr, isTTY: false, env: {} }, out: () => o, err: () => e };
}
