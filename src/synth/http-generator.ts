import { SyncabelError } from "../errors.js";
import type { GenerationReply, GenerationRequest, Generator, GeneratorInfo, TokenUsage } from "./types.js";

export interface HttpGeneratorOptions {
  /** Base URL (`http://host:8000/v1`) or the full `/chat/completions` URL. */
  readonly endpoint: string;
  readonly model: string;
  readonly apiKey?: string;
  /** Whole-request timeout (connect, wait, body), milliseconds. */
  readonly timeoutMs?: number;
}

/** `http://h/v1` -> `http://h/v1/chat/completions`; a full URL is kept. */
export function chatCompletionsUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new SyncabelError("SYNTH_INVALID_OPTIONS", `the endpoint ${JSON.stringify(endpoint)} is not a URL`, { endpoint });
  }
  if (!/\/chat\/completions\/?$/.test(url.pathname)) url.pathname = `${url.pathname.replace(/\/+$/, "")}/chat/completions`;
  return url.toString();
}

function endpointError(message: string, details: { status?: number; retryable: boolean; fatal?: boolean; retryAfterMs?: number }): SyncabelError {
  return new SyncabelError("SYNTH_ENDPOINT", message, { ...details });
}

/** The request was cancelled by the caller (Ctrl-C): no attempt of anything should follow. */
function interrupted(url: string): SyncabelError {
  return new SyncabelError("INTERRUPTED", `request to ${url} cancelled`, { retryable: false, fatal: true });
}

/** Connection-level failures: nothing listens at the URL, or the host does not resolve. */
const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET"]);

/** Retry-After: seconds or an HTTP date. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** An OpenAI chat-completions client (vLLM, llama.cpp server, Ollama, TGI, hosted APIs). */
export class HttpChatGenerator implements Generator {
  readonly info: GeneratorInfo;
  private readonly url: string;
  private readonly timeoutMs: number;
  /** Whether the endpoint ever answered (a refused connection before that means a wrong URL or a server down). */
  private answered = false;

  constructor(private readonly options: HttpGeneratorOptions) {
    this.url = chatCompletionsUrl(options.endpoint);
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.info = { kind: "http", model: options.model, endpoint: this.url };
  }

  async generate(request: GenerationRequest): Promise<GenerationReply> {
    const body = {
      model: this.options.model,
      messages: request.messages,
      temperature: request.temperature,
      top_p: request.topP,
      max_tokens: request.maxTokens,
      ...(request.seed === undefined ? {} : { seed: request.seed }),
      stream: false,
    };
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    const cancel = (): void => controller.abort();
    request.signal?.addEventListener("abort", cancel, { once: true });
    try {
      if (request.signal?.aborted) throw interrupted(this.url);
      let response: Response;
      try {
        response = await fetch(this.url, { method: "POST", headers, body: JSON.stringify(body), signal: controller.signal });
      } catch (e) {
        throw request.signal?.aborted ? interrupted(this.url) : this.transportError(e, controller.signal.aborted);
      }
      let raw: string;
      try {
        raw = await response.text();
      } catch (e) {
        throw request.signal?.aborted ? interrupted(this.url) : this.transportError(e, controller.signal.aborted);
      }
      this.answered = true;
      if (!response.ok) throw this.statusError(response, raw);
      return parseChatCompletion(raw);
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", cancel);
    }
  }

  private transportError(e: unknown, aborted: boolean): SyncabelError {
    if (aborted) {
      return new SyncabelError("SYNTH_TIMEOUT", `no complete answer from ${this.url} within ${this.timeoutMs} ms`, { retryable: true, timeoutMs: this.timeoutMs });
    }
    const cause = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    const code = e instanceof Error && e.cause instanceof Error ? (e.cause as { code?: unknown }).code : undefined;
    const unreachable = typeof code === "string" && UNREACHABLE.has(code);
    return new SyncabelError("SYNTH_ENDPOINT", `request to ${this.url} failed: ${cause}${unreachable ? " (is the server running? check the endpoint URL)" : ""}`, {
      retryable: true,
      unreachable,
      everAnswered: this.answered,
    });
  }

  private statusError(response: Response, body: string): SyncabelError {
    const status = response.status;
    const snippet = body.slice(0, 200).replace(/\s+/g, " ");
    const message = `${this.url} answered HTTP ${status}: ${snippet}`;
    if (status === 429 || status === 408 || status >= 500) {
      return endpointError(message, { status, retryable: true, retryAfterMs: retryAfterMs(response.headers.get("retry-after")) });
    }
    // Bad key, forbidden, unknown model or path: no other concept can succeed either.
    if (status === 401 || status === 403 || status === 404) return endpointError(message, { status, retryable: false, fatal: true });
    return endpointError(message, { status, retryable: false });
  }

  async close(): Promise<void> {
    // fetch keeps no per-client state to release.
  }
}

/** Read a chat-completions JSON body; a torn or odd body is a retryable bad reply. */
export function parseChatCompletion(raw: string): GenerationReply {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new SyncabelError("SYNTH_BAD_REPLY", `the endpoint's reply is not valid JSON (${raw.length} bytes, possibly truncated)`, { retryable: true });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new SyncabelError("SYNTH_BAD_REPLY", `the endpoint's reply is ${json === null ? "null" : `a JSON ${Array.isArray(json) ? "array" : typeof json}`}, not a chat-completions object`, { retryable: true });
  }
  const choices = (json as { choices?: unknown }).choices;
  const first = Array.isArray(choices) ? (choices[0] as unknown) : undefined;
  const choice = first !== null && typeof first === "object" ? (first as { message?: { content?: unknown } | null; finish_reason?: unknown }) : undefined;
  const content = choice?.message?.content;
  if (typeof content !== "string") {
    throw new SyncabelError("SYNTH_BAD_REPLY", "the endpoint's reply has no choices[0].message.content string", { retryable: true });
  }
  const usage = (json as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null }).usage;
  let tokenUsage: TokenUsage | undefined;
  if (usage && typeof usage.prompt_tokens === "number" && typeof usage.completion_tokens === "number") {
    tokenUsage = { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens };
  }
  const finishReason = typeof choice?.finish_reason === "string" ? choice.finish_reason : undefined;
  return { text: content, ...(tokenUsage ? { usage: tokenUsage } : {}), ...(finishReason ? { finishReason } : {}) };
}
