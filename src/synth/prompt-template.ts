import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { SyncabelError, type ErrorCode } from "../errors.js";
import type { ChatMessage } from "./types.js";
import { LINE_PREFIX, type SynthLanguage } from "./language.js";

/** The prompts shipped with the package: `<package>/prompts/<language>/{system,user}.txt`. */
export const DEFAULT_PROMPT_DIR = fileURLToPath(new URL("../../prompts/", import.meta.url));

export interface PromptTemplates {
  readonly language: SynthLanguage;
  readonly system: string;
  readonly user: string;
  /** Where they were read from (reported in the summary). */
  readonly dir: string;
}

/**
 * Load the system and user templates of a language. `promptDir` holds either `<language>/system.txt`
 * (a whole prompts folder) or `system.txt` directly (one language's folder).
 */
export function loadPromptTemplates(language: SynthLanguage, promptDir: string = DEFAULT_PROMPT_DIR): PromptTemplates {
  const nested = join(promptDir, language);
  const dir = existsSync(join(nested, "system.txt")) ? nested : promptDir;
  const read = (name: string): string => {
    const path = join(dir, name);
    if (!existsSync(path)) {
      throw new SyncabelError("SYNTH_PROMPT_MISSING", `prompt template ${path} is missing (language ${language})`, { path, language });
    }
    return readFileSync(path, "utf8");
  };
  return { language, system: read("system.txt"), user: read("user.txt"), dir };
}

/** What the templates may refer to as `{{name}}`. */
export interface PromptVariables {
  readonly code: string;
  readonly title: string;
  readonly group: string;
  readonly semantic_type: string;
  readonly definitions: string;
  readonly names: string;
  readonly mentions: string;
  readonly n: string;
  readonly prefix: string;
  readonly style_examples: string;
}

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

/** Substitute `{{name}}` placeholders; an unknown name is an error (of `code`) naming the template. */
export function renderTemplate(template: string, vars: PromptVariables | Readonly<Record<string, string>>, templateName = "template", code: ErrorCode = "SYNTH_PROMPT_MISSING"): string {
  const values = vars as Readonly<Record<string, string>>;
  return template.replace(PLACEHOLDER, (_all, name: string) => {
    if (!Object.prototype.hasOwnProperty.call(values, name)) {
      throw new SyncabelError(code, `${templateName} uses unknown placeholder {{${name}}} (known: ${Object.keys(values).join(", ")})`, {
        template: templateName,
        placeholder: name,
      });
    }
    return values[name];
  });
}

/** Everything one concept's prompt says about it. */
export interface ConceptPromptInput {
  readonly code: string;
  readonly title: string;
  readonly group: string;
  readonly semanticTypes: readonly string[];
  readonly definitions: readonly string[];
  readonly names: readonly string[];
  readonly mentions: readonly string[];
  readonly styleExamples: readonly string[];
}

/** Language-specific filler for empty fields. */
const NONE: Readonly<Record<SynthLanguage, { definition: string; other: string }>> = {
  es: { definition: "sin definición", other: "ninguno" },
  en: { definition: "no definition", other: "none" },
  fr: { definition: "pas de définition", other: "aucun" },
};

function bullets(items: readonly string[], empty: string): string {
  return items.length === 0 ? empty : items.map((s) => `- ${s}`).join("\n");
}

export function renderConceptPrompt(templates: PromptTemplates, input: ConceptPromptInput, perConcept: number): ChatMessage[] {
  const none = NONE[templates.language];
  const vars: PromptVariables = {
    code: input.code,
    title: input.title,
    group: input.group,
    semantic_type: input.semanticTypes.length > 0 ? input.semanticTypes.join(", ") : none.other,
    definitions: bullets(input.definitions, none.definition),
    names: bullets(input.names, none.other),
    mentions: bullets(input.mentions, none.other),
    n: String(perConcept),
    prefix: LINE_PREFIX[templates.language],
    style_examples: bullets(input.styleExamples, none.other),
  };
  return [
    { role: "system", content: renderTemplate(templates.system, vars, `${templates.dir}/system.txt`).trim() },
    { role: "user", content: renderTemplate(templates.user, vars, `${templates.dir}/user.txt`).trim() },
  ];
}
