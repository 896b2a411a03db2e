/**
 * Entry of one worker thread of WorkerPoolLinker (src/linker/worker-pool-linker.ts): opens a model-free linker
 * over a KB index file and answers `link` requests. Imports only the lexical linkers: a worker never loads
 * the model runtime.
 */
import { parentPort, workerData } from "node:worker_threads";
import { asSyncabelError } from "../errors.js";
import { openKnowledgeBase } from "../kb/index.js";
import { HybridLinker } from "./hybrid-linker.js";
import { TfidfLinker } from "./tfidf-linker.js";
import type { Linker } from "./types.js";
import type { WorkerInit, WorkerReply, WorkerRequest } from "./worker-protocol.js";

function openLexical(init: WorkerInit): Linker {
  const kb = openKnowledgeBase(init.kb);
  try {
    return init.linker === "hybrid" ? HybridLinker.fromKnowledgeBase(kb) : TfidfLinker.fromKnowledgeBase(kb);
  } finally {
    kb.close(); // both linkers hold their index in memory
  }
}

const port = parentPort;
if (port === null) throw new Error("linker-worker.ts runs as a worker thread (see WorkerPoolLinker)");
const post = (reply: WorkerReply): void => port.postMessage(reply);
let linker: Linker | undefined;
try {
  linker = openLexical(workerData as WorkerInit);
  post({ type: "ready" });
} catch (e) {
  post({ type: "failed", error: asSyncabelError(e, "KB_INDEX_INVALID").toJSON() });
}
port.on("message", (request: WorkerRequest) => {
  if (linker === undefined) return;
  linker.link(request.queries, request.options).then(
    (results) => post({ type: "results", id: request.id, results }),
    (e: unknown) => post({ type: "error", id: request.id, error: asSyncabelError(e, "INTERNAL").toJSON() }),
  );
});
