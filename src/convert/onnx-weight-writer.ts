/**
 * Streams initializers to an Optimum-style external data file (`<model>.onnx_data`): each tensor is appended at a
 * 4 KiB-aligned offset as soon as it is converted and then dropped, so peak memory is a few tensors, not the model.
 * Everything goes to a temp file beside the target; `commit` renames it into place (after the .onnx is ready), and
 * `abort` removes it. A model whose weights stay under the threshold gets them back inline (one self-contained file).
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync } from "node:fs";
import { basename } from "node:path";
import onnxProto from "onnx-proto";
import { tempPathFor, writeAll } from "../io/atomic-write.js";
import type { ITensorProto, WeightSink } from "./onnx-graph-builder.js";

const { onnx } = onnxProto;

/** External-data tensors start at multiples of this (page size, so runtimes may memory-map them). */
export const EXTERNAL_ALIGN = 4096;
/** Tensors smaller than this stay inline in the .onnx (as Optimum and onnx.save do). */
const INLINE_BELOW = 1024;

export class StreamingWeightWriter implements WeightSink {
  readonly initializers: ITensorProto[] = [];
  private readonly tmp: string;
  private fd: number | null;
  private offset = 0;
  private externalBytes = 0;
  private inlineBytes = 0;

  constructor(private readonly dataPath: string) {
    this.tmp = tempPathFor(dataPath);
    this.fd = openSync(this.tmp, "w+"); // read back when the weights go inline
  }

  /** Bytes of all initializers added so far (inline and external, without alignment padding). */
  get weightBytes(): number {
    return this.externalBytes + this.inlineBytes;
  }

  async add(name: string, dims: readonly number[], dataType: number, bytes: Uint8Array): Promise<void> {
    if (this.fd === null) throw new Error("StreamingWeightWriter: add after finish");
    if (bytes.length < INLINE_BELOW) {
      this.initializers.push({ name, dims: [...dims], dataType, rawData: bytes.slice() });
      this.inlineBytes += bytes.length;
    } else {
      const start = Math.ceil(this.offset / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      if (start > this.offset) writeAll(this.fd, new Uint8Array(start - this.offset));
      writeAll(this.fd, bytes);
      this.offset = start + bytes.length;
      this.externalBytes += bytes.length;
      this.initializers.push({
        name,
        dims: [...dims],
        dataType,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: "location", value: basename(this.dataPath) },
          { key: "offset", value: String(start) },
          { key: "length", value: String(bytes.length) },
        ],
      });
    }
    // Let timers, progress output and signal handlers run between tensors.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /**
   * Close the data file. With `external` false every external tensor is read back inline and the temp file is
   * removed (small models only); with true the data stays in the temp file until `commit`.
   */
  finish(external: boolean): void {
    if (this.fd === null) return;
    if (external) {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = null;
      return;
    }
    for (const t of this.initializers) {
      if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
      const at = (key: string): number => Number(t.externalData!.find((e) => e.key === key)!.value);
      const bytes = new Uint8Array(at("length"));
      for (let done = 0; done < bytes.length; ) {
        const n = readSync(this.fd, bytes, done, bytes.length - done, at("offset") + done);
        if (n === 0) throw new Error(`short read of ${this.tmp}`);
        done += n;
      }
      t.rawData = bytes;
      t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
      t.externalData = [];
    }
    this.abort();
  }

  /** Move the finished external data file into place. */
  commit(): void {
    renameSync(this.tmp, this.dataPath);
  }

  /** Drop the temp file (on error, or when the weights went inline). */
  abort(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    rmSync(this.tmp, { force: true });
  }
}
