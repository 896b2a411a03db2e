/**
 * An in-process HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol, whose replies
 * are scripted per concept code (read from the user prompt, or by `keyOf`) and per attempt.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type ScriptedReply =
  | { readonly kind: "content"; readonly content: string; readonly usage?: { prompt_tokens: number; completion_tokens: number } }
  | { readonly kind: "status"; readonly status: number; readonly body?: string; readonly headers?: Record<string, string> }
  | { readonly kind: "hang" }
  | { readonly kind: "raw"; readonly body: string };

export interface ReceivedRequest {
  readonly code: string;
  readonly attempt: number;
  readonly body: Record<string, unknown>;
  readonly headers: IncomingMessage["headers"];
  /** Date.now() when the request body had arrived. */
  readonly at: number;
}

export interface ScriptedChatServer {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  requestsFor(code: string): number;
  close(): Promise<void>;
}

/** The code line our templates write: "Código: X" / "Code: X" / "Code : X". */
function codeOf(body: Record<string, unknown>): string {
  const messages = body.messages as { role: string; content: string }[];
  const user = messages.find((m) => m.role === "user")?.content ?? "";
  const m = /C(?:ó|o)d(?:igo|e)\s*:\s*(\S+)/.exec(user);
  return m ? m[1] : "?";
}

export async function startScriptedChatServer(
  script: (code: string, attempt: number) => ScriptedReply,
  options: { delayMs?: number; keyOf?: (body: Record<string, unknown>) => string } = {},
): Promise<ScriptedChatServer> {
  const requests: ReceivedRequest[] = [];
  const attempts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      const code = (options.keyOf ?? codeOf)(body);
      const attempt = (attempts.get(code) ?? 0) + 1;
      attempts.set(code, attempt);
      requests.push({ code, attempt, body, headers: req.headers, at: Date.now() });
      const reply = script(code, attempt);
      const send = (): void => {
        switch (reply.kind) {
          case "hang":
            return; // never answer; the client must time out
          case "status":
            res.writeHead(reply.status, { "content-type": "application/json", ...(reply.headers ?? {}) });
            res.end(reply.body ?? JSON.stringify({ error: { message: `scripted ${reply.status}` } }));
            return;
          case "raw":
            res.writeHead(200, { "content-type": "application/json" });
            res.end(reply.body);
            return;
          case "content":
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify({
              id: "x", object: "chat.completion", model: body.model,
              choices: [{ index: 0, message: { role: "assistant", content: reply.content }, finish_reason: "stop" }],
              ...(reply.usage ? { usage: { ...reply.usage, total_tokens: reply.usage.prompt_tokens + reply.usage.completion_tokens } } : {}),
            }));
        }
      };
      if (options.delayMs) setTimeout(send, options.delayMs);
      else send();
    });
  };
  const server: Server = createServer(handle);
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    requestsFor: (code) => attempts.get(code) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `n` well-formed Spanish lines mentioning `mention`. */
export function goodReply(n: number, mention = "embolia pulmonar"): string {
  const lines = Array.from({ length: n }, (_, i) => `ejemplo: Paciente de ${40 + i} años ingresa por [${mention}] con disnea súbita y dolor torácico.`);
  return `Aquí tienes las frases:\n${lines.join("\n")}`;
}
