/**
 * A small SentencePiece-Unigram tokenizer in the layout of the mBART-50 checkpoints (`tokenizer.json` as
 * transformers' MBart50Converter writes it, `tokenizer_config.json` with src_lang / tgt_lang), for test models:
 *
 *  - model: Unigram, ids 0-3 = <s> <pad> </s> <unk> (unk_id 3), then the pieces, then the 52 mBART-50 language
 *    codes (score 0, as the converter appends them), then <mask>; `<SEP>` follows as an added special token, as the
 *    SynCABEL fine-tuning adds it (sep_token "<SEP>", embeddings resized);
 *  - normalizer NFKC + runs of spaces collapsed; pre-tokenizer and decoder Metaspace (▁, prepend always);
 *  - post-processor `[src_lang] $A </s>` (mBART-50 after set_src_lang_special_tokens) or `<s> $A </s>` (BART).
 *
 * The pieces are every letter, digit and punctuation mark (alone and after ▁) plus common Spanish, clinical, French
 * and English words and endings, with distinct scores favouring longer pieces: any text tokenizes, words of
 * clinical Spanish in few pieces. No piece has ▁ inside, so whole-string and per-word Viterbi agree.
 */
import { writeFileAtomic } from "../io/atomic-write.js";
import { join } from "node:path";
import { SEP_TOKEN } from "../constants.js";

/** The language codes of mBART-50, in the order of its vocabulary. */
export const MBART50_LANGUAGE_CODES = [
  "ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN", "hi_IN", "it_IT", "ja_XX", "kk_KZ",
  "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP", "nl_XX", "ro_RO", "ru_RU", "si_LK", "tr_TR", "vi_VN", "zh_CN", "af_ZA",
  "az_AZ", "bn_IN", "fa_IR", "he_IL", "hr_HR", "id_ID", "ka_GE", "km_KH", "mk_MK", "ml_IN", "mn_MN", "mr_IN", "pl_PL",
  "ps_AF", "pt_XX", "sv_SE", "sw_KE", "ta_IN", "te_IN", "th_TH", "tl_XX", "uk_UA", "ur_PK", "xh_ZA", "gl_ES", "sl_SI",
] as const;

const WORDS = `el la de que y en los del se las por un para con no una su al es lo como más pero sus le ya o este sí porque
esta entre cuando muy sin sobre también me hasta hay donde desde todo nos durante todos uno les ni contra otros ese eso
ante ellos esto antes algunos qué unos otro otras otra tanto esa estos mucho nada muchos cual poco ella estar estas
algunas algo paciente pacientes dolor pulmonar embolia masiva masivo signos signo dificultad respiratoria respiratorio
presentó presenta enfermedad síndrome insuficiencia renal cardíaca cardiaca aguda agudo crónica crónico infección tumor
cáncer carcinoma diabetes mellitus hipertensión arterial fractura fiebre tos cefalea náuseas vómitos abdominal
tratamiento cirugía biopsia resección trasplante sangre hígado riñón corazón pulmón cerebral ósea óseo piel lesión masa
quiste edad años mujer varón ingreso hospital diagnóstico análisis tomografía resonancia ecografía radiografía
procedimiento síntoma síntomas hallazgo trastorno neoplasia maligna maligno benigna benigno derecho derecha izquierdo
izquierda tipo grado estadio metástasis linfoma leucemia anemia neumonía sepsis shock infarto miocardio ictus
accidente cerebrovascular trombosis venosa profunda edema dolor torácico disnea astenia pérdida peso adenopatías
hepática hepático hepatitis cirrosis pancreatitis colecistitis apendicitis úlcera gástrica hemorragia digestiva
obstrucción intestinal insuficiencia hipotiroidismo hipertiroidismo artritis reumatoide lupus esclerosis múltiple
epilepsia demencia depresión ansiedad asma bronquitis enfisema tuberculosis VIH sida virus bacteria hongo
administración dosis fármaco medicamento quimioterapia radioterapia inmunoterapia antibiótico analgésico
extirpación drenaje sutura punción lumbar endoscopia colonoscopia gastroscopia cateterismo angioplastia
is the of and a an with in to for on patient pain acute chronic disease est le les des une avec dans du au aux douleur
maladie patient aiguë chronique`;

const ENDINGS = "ción ciones itis osis emia algia oma omas ectomía grafía scopia patía plastia ica ico icas icos ado ada ados adas ente entes mente ar er ir ía ia al ales ivo iva oso osa or ora dad ismo ista ible";

const ALPHABET = "abcdefghijklmnopqrstuvwxyzáéíóúüñçàèâêîôûëïABCDEFGHIJKLMNOPQRSTUVWXYZÁÉÍÓÚÜÑÇ0123456789.,;:!?¿¡()[]{}-_/'\"%+*=<>@#&|~^`$";

const META = "\u2581";

export interface UnigramTokenizerOptions {
  /** "mbart": mBART-50 language codes and `[src_lang] $A </s>`; "bart": no codes, `<s> $A </s>`. */
  readonly arch: "mbart" | "bart";
  /** mBART: tokenizer_config's src_lang and tgt_lang (default es_XX). */
  readonly srcLang?: string;
  readonly tgtLang?: string;
  /**
   * More pieces (`▁` marks a word start; none inside), scored like whole words: e.g. another tokenizer's pieces of a
   * corpus, so that this one cuts that corpus about as finely (the capacity benchmark compares models at equal
   * tokens per name).
   */
  readonly extraPieces?: readonly string[];
}

export interface UnigramTokenizerInfo {
  /** Size of the id space (pieces, codes, <mask>, <SEP>). */
  readonly vocabSize: number;
  readonly bosId: number;
  readonly padId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly sepId: number;
  /** Language code -> id (mBART only). */
  readonly languageIds: Readonly<Record<string, number>>;
}

interface Piece {
  readonly piece: string;
  readonly score: number;
}

/** The Unigram pieces after the four specials, each once, scores distinct (longer pieces score higher). */
function pieces(extra: readonly string[] = []): Piece[] {
  const out: Piece[] = [];
  const seen = new Set<string>(["<s>", "<pad>", "</s>", "<unk>"]);
  const add = (piece: string, base: number): void => {
    if (seen.has(piece)) return;
    seen.add(piece);
    // Distinct scores: ties would leave the segmentation to the implementation.
    out.push({ piece, score: -(base - 0.35 * [...piece].length) - out.length * 1e-5 });
  };
  add(META, 8);
  for (const w of WORDS.split(/\s+/).filter(Boolean)) add(META + w, 5);
  for (const w of WORDS.split(/\s+/).filter(Boolean)) if ([...w].length > 2) add(w, 7);
  for (const e of ENDINGS.split(/\s+/)) add(e, 6.5);
  for (const p of extra) if (p !== "" && p !== META && !p.slice(1).includes(META) && !/^[a-z]{2}_[A-Z]{2}$|^<.*>$/.test(p)) add(p, 6);
  for (const ch of ALPHABET) add(META + ch, 9.5);
  for (const ch of ALPHABET) add(ch, 10);
  return out;
}

function addedToken(id: number, content: string, lstrip = false): Record<string, unknown> {
  return { id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true };
}

/**
 * Write `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json` into `dir` (which must exist).
 */
export function writeUnigramTokenizer(dir: string, options: UnigramTokenizerOptions): UnigramTokenizerInfo {
  const mbart = options.arch === "mbart";
  const srcLang = options.srcLang ?? "es_XX";
  const tgtLang = options.tgtLang ?? srcLang;
  const vocab: [string, number][] = [["<s>", 0], ["<pad>", 0], ["</s>", 0], ["<unk>", 0]];
  for (const p of pieces(options.extraPieces)) vocab.push([p.piece, p.score]);
  const languageIds: Record<string, number> = {};
  if (mbart) {
    for (const code of MBART50_LANGUAGE_CODES) {
      languageIds[code] = vocab.length;
      vocab.push([code, 0]);
    }
  }
  const maskId = vocab.length;
  vocab.push(["<mask>", 0]);
  const sepId = vocab.length;
  const added = [
    addedToken(0, "<s>"),
    addedToken(1, "<pad>"),
    addedToken(2, "</s>"),
    addedToken(3, "<unk>"),
    ...Object.entries(languageIds).map(([code, id]) => addedToken(id, code)),
    addedToken(maskId, "<mask>", true),
    addedToken(sepId, SEP_TOKEN),
  ];
  const prefix = mbart ? srcLang : "<s>";
  const special = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  const seq = (id: string) => ({ Sequence: { id, type_id: 0 } });
  const idOf = (token: string): number => vocab.findIndex(([p]) => p === token);
  const metaspace = { type: "Metaspace", replacement: META, prepend_scheme: "always", split: true };
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: "Sequence", normalizers: [{ type: "NFKC" }, { type: "Replace", pattern: { Regex: " {2,}" }, content: " " }] },
    pre_tokenizer: metaspace,
    post_processor: {
      type: "TemplateProcessing",
      single: [special(prefix), seq("A"), special("</s>")],
      pair: [special(prefix), seq("A"), seq("B"), special("</s>")],
      special_tokens: {
        [prefix]: { id: prefix, ids: [idOf(prefix)], tokens: [prefix] },
        "</s>": { id: "</s>", ids: [2], tokens: ["</s>"] },
      },
    },
    decoder: metaspace,
    model: { type: "Unigram", unk_id: 3, vocab, byte_fallback: false },
  };
  const decoderEntries = Object.fromEntries(added.map((t) => [String(t.id), { content: t.content, lstrip: t.lstrip, normalized: false, rstrip: false, single_word: false, special: true }]));
  const common = { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", pad_token: "<pad>", cls_token: "<s>", mask_token: "<mask>", sep_token: SEP_TOKEN };
  const config = {
    added_tokens_decoder: decoderEntries,
    ...common,
    ...(mbart ? { additional_special_tokens: [...MBART50_LANGUAGE_CODES], src_lang: srcLang, tgt_lang: tgtLang, tokenizer_class: "MBart50Tokenizer" } : { tokenizer_class: "PreTrainedTokenizerFast" }),
    clean_up_tokenization_spaces: false,
    model_max_length: 1024,
  };
  writeFileAtomic(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileAtomic(join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 2) + "\n");
  writeFileAtomic(join(dir, "special_tokens_map.json"), JSON.stringify({ ...common, ...(mbart ? { additional_special_tokens: [...MBART50_LANGUAGE_CODES] } : {}) }, null, 2) + "\n");
  return { vocabSize: sepId + 1, bosId: 0, padId: 1, eosId: 2, unkId: 3, sepId, languageIds };
}
