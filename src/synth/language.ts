import { SyncabelError } from "../errors.js";

export type SynthLanguage = "es" | "en" | "fr";

/** The line prefix each language's prompt asks for (conventions, section 7). */
export const LINE_PREFIX: Readonly<Record<SynthLanguage, string>> = {
  es: "ejemplo:",
  en: "example:",
  fr: "exemple :",
};

export function asSynthLanguage(value: string): SynthLanguage {
  if (value === "es" || value === "en" || value === "fr") return value;
  throw new SyncabelError("SYNTH_INVALID_OPTIONS", `unsupported language ${JSON.stringify(value)}: use es, en or fr`, { language: value });
}
