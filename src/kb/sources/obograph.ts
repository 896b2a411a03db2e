/**
 * OBO Graphs JSON (the JSON release of OBO Foundry ontologies: MONDO, HPO, DOID...): every `graphs[].nodes[]`
 * node of type CLASS gives its label (preferred), synonyms of the selected scopes, definition and xrefs;
 * deprecated nodes are skipped. `graphs[].edges[]` give the hierarchy: `is_a` edges, and part-of edges (BFO_0000050)
 * kept apart. The file is scanned as a character stream and each node or edge is parsed on its own, so memory
 * stays bounded by the largest node, not the file.
 */
import { createReadStream, statSync } from "node:fs";
import { basename } from "node:path";
import { SyncabelError } from "../../errors.js";
import { cleanText } from "../../markup/clean.js";
import { requireFile } from "./lines.js";
import { DEFAULT_SCOPES, termGroup, type OboOptions, type SynonymScope } from "./obo-common.js";
import { parseXref, type ProgressSink, type SourceItem, type TermSource, type Xref } from "./types.js";

/** The JSON text of every element of `graphs[*].nodes`, with the line it starts on. */
export async function* streamGraphNodes(path: string, progress?: ProgressSink): AsyncGenerator<{ json: string; line: number }> {
  for await (const e of streamGraphElements(path, progress)) if (e.array === "nodes") yield { json: e.json, line: e.line };
}

/** The JSON text of every element of `graphs[*].nodes` and `graphs[*].edges`, with its array and start line. */
export async function* streamGraphElements(path: string, progress?: ProgressSink): AsyncGenerator<{ array: "nodes" | "edges"; json: string; line: number }> {
  requireFile(path);
  progress?.start(basename(path), statSync(path).size);
  const stack: { type: string; key: string | undefined }[] = [];
  let inString = false;
  let escape = false;
  let expectKey = false;
  let keyBuf = "";
  let lastKey: string | undefined;
  let line = 1;
  let capture: string[] | undefined;
  let captureDepth = 0;
  let captureLine = 0;
  let captureArray: "nodes" | "edges" = "nodes";
  const arrayHere = (): "nodes" | "edges" | undefined => {
    if (stack.length !== 4 || stack[1].key !== "graphs" || stack[3].type !== "[") return undefined;
    const key = stack[3].key;
    return key === "nodes" || key === "edges" ? key : undefined;
  };
  for await (const chunk of createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 }) as AsyncIterable<string>) {
    progress?.advance(Buffer.byteLength(chunk, "utf8"));
    let from = 0;
    const nodes: { array: "nodes" | "edges"; json: string; line: number }[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk.charCodeAt(i);
      if (ch === 10) line++;
      if (inString) {
        if (escape) escape = false;
        else if (ch === 92) escape = true;
        else if (ch === 34) {
          inString = false;
          if (expectKey) {
            lastKey = keyBuf;
            expectKey = false;
          }
          continue;
        }
        if (expectKey && capture === undefined) keyBuf += chunk[i];
        continue;
      }
      if (ch === 34) {
        inString = true;
        keyBuf = "";
      } else if (ch === 123 || ch === 91) {
        const parent = stack[stack.length - 1];
        const array = ch === 123 && capture === undefined ? arrayHere() : undefined;
        if (array !== undefined) {
          captureArray = array;
          capture = [];
          from = i;
          captureDepth = stack.length;
          captureLine = line;
        }
        stack.push({ type: ch === 123 ? "{" : "[", key: parent?.type === "{" ? lastKey : undefined });
        expectKey = ch === 123;
      } else if (ch === 125 || ch === 93) {
        stack.pop();
        expectKey = false;
        if (capture !== undefined && ch === 125 && stack.length === captureDepth) {
          capture.push(chunk.slice(from, i + 1));
          nodes.push({ array: captureArray, json: capture.join(""), line: captureLine });
          capture = undefined;
        }
      } else if (ch === 44) expectKey = stack[stack.length - 1]?.type === "{";
    }
    if (capture !== undefined) {
      capture.push(chunk.slice(from));
      from = 0;
    }
    yield* nodes;
  }
  progress?.finish();
  if (stack.length !== 0 || inString) throw new SyncabelError("KB_FILE_INVALID", `${path}: truncated JSON (unclosed ${inString ? "string" : "brackets"})`, { path });
}

const SCOPE_OF_PRED: Readonly<Record<string, SynonymScope>> = {
  hasExactSynonym: "EXACT",
  hasRelatedSynonym: "RELATED",
  hasNarrowSynonym: "NARROW",
  hasBroadSynonym: "BROAD",
};

/** `http://purl.obolibrary.org/obo/DOID_0001816` -> `DOID:0001816`; other ids unchanged. */
export function curieOf(id: string): string {
  const m = /^https?:\/\/purl\.obolibrary\.org\/obo\/([A-Za-z][\w.-]*?)_(\S+)$/.exec(id);
  return m ? `${m[1]}:${m[2]}` : id;
}

interface GraphNode {
  id?: string;
  lbl?: string;
  type?: string;
  meta?: {
    definition?: { val?: string };
    synonyms?: { pred?: string; val?: string }[];
    xrefs?: { val?: string }[];
    subsets?: string[];
    deprecated?: boolean;
    basicPropertyValues?: { pred?: string; val?: string }[];
  };
}

export function oboGraphSource(path: string, options: OboOptions = {}): TermSource {
  requireFile(path);
  return { format: "obograph", files: [path], items: (progress) => graphItems(path, options, progress) };
}

async function* graphItems(path: string, options: OboOptions, progress?: ProgressSink): AsyncGenerator<SourceItem> {
  for await (const { array, json, line } of streamGraphElements(path, progress)) {
    let element: GraphNode & GraphEdge;
    try {
      element = JSON.parse(json) as GraphNode & GraphEdge;
    } catch (e) {
      yield { kind: "skip", file: path, line, reason: `invalid JSON ${array === "nodes" ? "node" : "edge"}`, detail: (e as Error).message };
      continue;
    }
    if (array === "nodes") yield* nodeItems(path, line, element, options);
    else yield* edgeItems(path, line, element);
  }
}

interface GraphEdge {
  sub?: string;
  pred?: string;
  obj?: string;
}

/** Edge predicates read, as written by OBO Graphs (is_a) and by OWL conversions (full IRIs, CURIEs). */
const EDGE_KIND: ReadonlyMap<string, "is_a" | "part_of"> = new Map([
  ["is_a", "is_a"],
  ["rdfs:subClassOf", "is_a"],
  ["http://www.w3.org/2000/01/rdf-schema#subClassOf", "is_a"],
  ["part_of", "part_of"],
  ["BFO:0000050", "part_of"],
  ["http://purl.obolibrary.org/obo/BFO_0000050", "part_of"],
]);

function* edgeItems(file: string, line: number, edge: GraphEdge): Generator<SourceItem> {
  const kind = typeof edge.pred === "string" ? EDGE_KIND.get(edge.pred) : undefined;
  if (kind === undefined || typeof edge.sub !== "string" || typeof edge.obj !== "string" || edge.sub === "" || edge.obj === "") return;
  yield { kind: "relation", file, line, relation: { child: curieOf(edge.sub), parent: curieOf(edge.obj), kind } };
}

function* nodeItems(file: string, line: number, node: GraphNode, options: OboOptions): Generator<SourceItem> {
  const skip = (reason: string, detail?: string): SourceItem => ({ kind: "skip", file, line, reason, detail });
  const meta = node.meta ?? {};
  if (typeof node.id !== "string" || node.id === "") return yield skip("node without id");
  const code = curieOf(node.id);
  if (node.type !== undefined && node.type !== "CLASS") return yield skip("not a CLASS node", `${code} (${node.type})`);
  if (meta.deprecated === true) return yield skip("deprecated node", code);
  if (typeof node.lbl !== "string" || cleanText(node.lbl).trim() === "") return yield skip("node without label", code);
  const namespace = meta.basicPropertyValues?.find((p) => p.pred?.endsWith("hasOBONamespace"))?.val;
  const subsets = (meta.subsets ?? []).map((s) => s.slice(Math.max(s.lastIndexOf("#"), s.lastIndexOf("/")) + 1));
  const g = termGroup(options, namespace, subsets);
  if ("reason" in g) return yield skip(g.reason, g.detail);
  const xrefs = (meta.xrefs ?? []).map((x) => (typeof x.val === "string" ? parseXref(x.val) : undefined)).filter((x): x is Xref => x !== undefined);
  const definitions = typeof meta.definition?.val === "string" && meta.definition.val.trim() !== "" ? [meta.definition.val.trim()] : [];
  yield { kind: "row", file, line, row: { code, name: cleanText(node.lbl).trim(), group: g.group, preferred: true, definitions, xrefs } };
  const scopes: readonly SynonymScope[] = options.scopes ?? DEFAULT_SCOPES;
  for (const s of meta.synonyms ?? []) {
    const scope = SCOPE_OF_PRED[s.pred ?? ""];
    const name = typeof s.val === "string" ? cleanText(s.val).trim() : "";
    if (scope === undefined || !scopes.includes(scope)) yield skip("synonym scope not selected", s.pred ?? "(none)");
    else if (name === "") yield skip("empty synonym", code);
    else yield { kind: "row", file, line, row: { code, name, group: g.group, preferred: false } };
  }
}
