import { SyncabelError } from "../errors.js";
import type { CausalLM } from "../lm/types.js";
import { hashString, mulberry32 } from "../util/random.js";
import { sampleTopP } from "./top-p-sampler.js";
import type { ChatMessage, GenerationReply, GenerationRequest, Generator, GeneratorInfo } from "./types.js";

/** What the local generator needs from a tokenizer: the chat template, encoding and decoding. */
export interface ChatTokenizer {
  applyChatTemplate(messages: readonly ChatMessage[]): string;
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  readonly eosTokenId: number;
}

export interface LocalGeneratorOptions {
  /** Name recorded in the output (e.g. the model folder). */
  readonly model: string;
  /** Extra ids that end a reply (e.g. Llama-3's <|eot_id|>), besides EOS. */
  readonly stopTokenIds?: readonly number[];
  /** Seed used when a request has none. */
  readonly seed?: number;
}

/**
 * The same prompts through the project's own model backend: the tokenizer's chat template, then a seeded
 * temperature/top-p sampling decoder over a CausalLM (no server needed). One request at a time: the
 * backend's session is not shared between concurrent decodes.
 */
export class LocalGenerator implements Generator {
  readonly info: GeneratorInfo;
  private readonly stop: ReadonlySet<number>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly lm: CausalLM,
    private readonly tokenizer: ChatTokenizer,
    private readonly options: LocalGeneratorOptions,
  ) {
    this.info = { kind: "local", model: options.model };
    this.stop = new Set([tokenizer.eosTokenId, ...(options.stopTokenIds ?? [])]);
  }

  generate(request: GenerationRequest): Promise<GenerationReply> {
    const run = this.queue.then(() => this.decode(request));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async decode(request: GenerationRequest): Promise<GenerationReply> {
    // The rendered template already holds BOS when the template writes it.
    const prompt = this.tokenizer.encode(this.tokenizer.applyChatTemplate(request.messages), { addSpecialTokens: false });
    const random = mulberry32(request.seed ?? hashString(`${this.options.seed ?? 0}`));
    const generated: number[] = [];
    let finishReason = "length";
    let state;
    try {
      let result = await this.lm.prefill([prompt]);
      for (;;) {
        const { logProbs } = result;
        const token = sampleTopP(logProbs.logits, 0, logProbs.vocabSize, request.temperature, request.topP, random);
        if (this.stop.has(token)) {
          finishReason = "stop";
          result.state.dispose();
          break;
        }
        generated.push(token);
        if (generated.length >= request.maxTokens) {
          result.state.dispose();
          break;
        }
        state = result.state;
        result = await this.lm.step(state, Int32Array.of(0), Int32Array.of(token));
      }
    } catch (e) {
      if (e instanceof SyncabelError) throw e;
      throw new SyncabelError("MODEL_RUNTIME", `local generation failed: ${(e as Error).message}`, { retryable: false }, { cause: e });
    }
    return {
      text: this.tokenizer.decode(generated, { skipSpecialTokens: true }),
      usage: { promptTokens: prompt.length, completionTokens: generated.length },
      finishReason,
    };
  }

  async close(): Promise<void> {
    await this.queue;
    await this.lm.dispose();
  }
}
