import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";

const { onnx } = onnxProto;

/** Element types of logits a model may return (float16 for half-precision exports). */
export type LogitsType = "float32" | "float16";

/** Logits as the model returns them: float32, or float16 bits in a Uint16Array. */
export type LogitsArray = Float32Array | Uint16Array;

/**
 * log-sum-exp of every row of a [rows, vocab] logits matrix, on ONNX Runtime: LogSoftmax (MLAS's vectorised,
 * multi-threaded kernel, precise to ~1e-6 over a 128k vocabulary), then logZ = logit[0] - logsoftmax[0] so only
 * one number per row comes back. About 30x faster than a JavaScript loop of Math.exp.
 * Decoding then reads log p(token) = logit - logZ[row] for the few tokens it needs. Float16 logits are cast to
 * float32 first, and the float32 logits come back too.
 */
export class LogNormalizer {
  private logits32 = new Float32Array(0);

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputType: LogitsType,
  ) {}

  static async create(threads: number, inputType: LogitsType = "float32"): Promise<LogNormalizer> {
    const float = onnx.TensorProto.DataType.FLOAT;
    const int64 = onnx.TensorProto.DataType.INT64;
    const { INT } = onnx.AttributeProto.AttributeType;
    const constant = (name: string, value: number) => ({ name, dataType: int64, dims: [1], int64Data: [value] });
    const half = inputType === "float16";
    const source = half ? "logits32" : "logits";
    const shape = { dim: [{ dimParam: "rows" }, { dimParam: "vocab" }] };
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 13 }],
      producerName: "syncabel",
      graph: {
        name: "log_normalizer",
        initializer: [constant("zero", 0), constant("one", 1)],
        node: [
          ...(half ? [{ opType: "Cast", input: ["logits"], output: ["logits32"], attribute: [{ name: "to", type: INT, i: float }] }] : []),
          { opType: "LogSoftmax", input: [source], output: ["log_probs"], attribute: [{ name: "axis", type: INT, i: 1 }] },
          { opType: "Slice", input: [source, "zero", "one", "one"], output: ["first_logit"] },
          { opType: "Slice", input: ["log_probs", "zero", "one", "one"], output: ["first_log_prob"] },
          { opType: "Sub", input: ["first_logit", "first_log_prob"], output: ["logz"] },
        ],
        input: [{ name: "logits", type: { tensorType: { elemType: half ? onnx.TensorProto.DataType.FLOAT16 : float, shape } } }],
        output: [
          { name: "logz", type: { tensorType: { elemType: float, shape: { dim: [{ dimParam: "rows" }, { dimValue: 1 }] } } } },
          ...(half ? [{ name: "logits32", type: { tensorType: { elemType: float, shape } } }] : []),
        ],
      },
    });
    const bytes = onnx.ModelProto.encode(model).finish();
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 });
    return new LogNormalizer(session, inputType);
  }

  /** logZ per row, and the logits as float32 (the input itself when it already is; else a reused buffer). */
  async normalize(logits: LogitsArray, rows: number, vocab: number): Promise<{ logits: Float32Array; logZ: Float32Array }> {
    const feeds = { logits: new ort.Tensor(this.inputType, logits, [rows, vocab]) };
    if (this.inputType === "float32") {
      const out = await this.session.run(feeds);
      return { logits: logits as Float32Array, logZ: out.logz.data as Float32Array };
    }
    if (this.logits32.length < rows * vocab) this.logits32 = new Float32Array(Math.ceil(rows * vocab * 1.25));
    const logits32 = this.logits32.subarray(0, rows * vocab);
    const out = await this.session.run(feeds, { logz: null, logits32: new ort.Tensor("float32", logits32, [rows, vocab]) } as ort.InferenceSession.FetchesType);
    return { logits: logits32, logZ: out.logz.data as Float32Array };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
