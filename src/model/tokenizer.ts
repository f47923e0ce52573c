/**
 * The text tokenizer: a Hugging Face `tokenizer.json` run by @huggingface/tokenizers (BPE for Janus-Pro,
 * word-level for ShapesWorld). Special tokens are looked up by their strings in the file, never by hard-coded
 * ids; the strings are the model folder's own where it names them: BOS and EOS from special_tokens_map.json
 * (else tokenizer_config.json), the image tags and the pad tag from processor_config.json (Janus's
 * VLChatProcessor: image_tag, image_start_tag, image_end_tag, pad_tag; Janus takes the pad id from pad_tag, not
 * from the tokenizer's pad_token), Janus's strings otherwise. BOS is added explicitly (`encode(text, {bos:
 * true})`), not by the file's post-processor, so both kinds of file behave alike.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { UserError } from '../util/errors.js';

/** The special-token strings of Janus-Pro's tokenizer (also used by corl's word-level tokenizers). */
export const SPECIAL_TOKENS = {
  bos: '<｜begin▁of▁sentence｜>',
  eos: '<｜end▁of▁sentence｜>',
  pad: '<｜▁pad▁｜>',
  image: '<image_placeholder>',
  boi: '<begin_of_image>',
  eoi: '<end_of_image>',
} as const;
export type SpecialName = keyof typeof SPECIAL_TOKENS;
export type SpecialIds = Record<SpecialName, number>;
export type SpecialStrings = Record<SpecialName, string>;

/** The files beside tokenizer.json that name special tokens (kept and written back by saveULM). */
export const SPECIAL_TOKENS_MAP_FILE = 'special_tokens_map.json';
export const PROCESSOR_CONFIG_FILE = 'processor_config.json';

/** A token field of special_tokens_map.json / tokenizer_config.json: a string or an AddedToken {content}. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
    return (v as { content: string }).content;
  return undefined;
}

/**
 * The special-token strings named by a model folder's files (parsed JSON; any may be absent): bos_token /
 * eos_token of special_tokens_map.json, else of tokenizer_config.json; image_tag, image_start_tag,
 * image_end_tag and pad_tag of processor_config.json; Janus's strings (SPECIAL_TOKENS) for the rest.
 */
export function specialStrings(
  files: { specialTokensMap?: object; tokenizerConfig?: object; processorConfig?: object } = {},
): SpecialStrings {
  const out: SpecialStrings = { ...SPECIAL_TOKENS };
  const map = (files.specialTokensMap ?? {}) as Record<string, unknown>;
  const cfg = (files.tokenizerConfig ?? {}) as Record<string, unknown>;
  const proc = (files.processorConfig ?? {}) as Record<string, unknown>;
  const pick = (...vs: unknown[]) => vs.map(tokenContent).find((v) => v !== undefined);
  out.bos = pick(map.bos_token, cfg.bos_token) ?? out.bos;
  out.eos = pick(map.eos_token, cfg.eos_token) ?? out.eos;
  out.image = pick(proc.image_tag) ?? out.image;
  out.boi = pick(proc.image_start_tag) ?? out.boi;
  out.eoi = pick(proc.image_end_tag) ?? out.eoi;
  out.pad = pick(proc.pad_tag) ?? out.pad;
  return out;
}

/** corl's own tokens for the word-level world tokenizer: unknown words and the template's role markers. */
export const WORLD_EXTRA_TOKENS = { unk: '<unk>', user: '<|User|>', assistant: '<|Assistant|>' } as const;

interface AddedTokenJSON {
  id: number;
  content: string;
  special?: boolean;
}
interface TokenizerJSON {
  added_tokens?: AddedTokenJSON[];
  model?: { type?: string; vocab?: Record<string, number> | unknown; unk_token?: string };
}

export class ULMTokenizer {
  readonly special: SpecialIds;
  private readonly tk: Tokenizer;
  private readonly maxId: number;

  /** The special-token strings the ids were looked up by. */
  readonly specialStrings: SpecialStrings;

  private constructor(
    /** The tokenizer.json object (written back unchanged by saveULM). */
    readonly json: object,
    readonly config: object,
    source: string,
    /** special_tokens_map.json and processor_config.json as read (file name -> object; saveULM writes them back) */
    readonly sideFiles: Readonly<Record<string, object>> = {},
  ) {
    try {
      const j = json as TokenizerJSON;
      // word-level files: unknown words map to the model's unk token, and decoding joins words with single
      // spaces and nothing else (no "clean-up" of spaces before punctuation), so decode(encode(s)) == s
      const wordLevel = j.model?.type === 'WordLevel';
      const defaults = wordLevel
        ? { unk_token: j.model?.unk_token, clean_up_tokenization_spaces: false }
        : {};
      this.tk = new Tokenizer(json, { ...defaults, ...config });
    } catch (e) {
      throw new UserError(`${source}: cannot build a tokenizer (${(e as Error).message})`);
    }
    this.specialStrings = specialStrings({
      specialTokensMap: sideFiles[SPECIAL_TOKENS_MAP_FILE],
      tokenizerConfig: config,
      processorConfig: sideFiles[PROCESSOR_CONFIG_FILE],
    });
    const missing: string[] = [];
    const ids: Partial<SpecialIds> = {};
    for (const [name, str] of Object.entries(this.specialStrings) as [SpecialName, string][]) {
      const id = this.tk.token_to_id(str);
      if (id === undefined) missing.push(str);
      else ids[name] = id;
    }
    if (missing.length > 0) throw new UserError(`${source}: missing special tokens ${missing.join(', ')}`);
    this.special = ids as SpecialIds;
    let max = -1;
    for (const id of this.tk.get_vocab(true).values()) max = Math.max(max, id);
    this.maxId = max;
  }

  /**
   * From a parsed tokenizer.json (and optionally tokenizer_config.json, and special_tokens_map.json /
   * processor_config.json by file name in `sideFiles`).
   */
  static fromJSON(
    json: object,
    config: object = {},
    source = 'tokenizer.json',
    sideFiles: Readonly<Record<string, object>> = {},
  ): ULMTokenizer {
    return new ULMTokenizer(json, config, source, sideFiles);
  }

  /**
   * Reads `file` (tokenizer.json) and, when present beside it, tokenizer_config.json, special_tokens_map.json
   * and processor_config.json.
   */
  static load(file: string): ULMTokenizer {
    const read = (f: string): object => {
      try {
        const v = JSON.parse(fs.readFileSync(f, 'utf8')) as unknown;
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
        return v;
      } catch (e) {
        throw new UserError(`${f}: cannot read tokenizer file (${(e as Error).message})`);
      }
    };
    const beside = (name: string) => {
      const f = path.join(path.dirname(file), name);
      return fs.existsSync(f) ? read(f) : undefined;
    };
    const sideFiles: Record<string, object> = {};
    for (const name of [SPECIAL_TOKENS_MAP_FILE, PROCESSOR_CONFIG_FILE]) {
      const v = beside(name);
      if (v !== undefined) sideFiles[name] = v;
    }
    return new ULMTokenizer(read(file), beside('tokenizer_config.json') ?? {}, file, sideFiles);
  }

  /** Ids are 0..vocabSize-1 (the LLM's vocab_size must be at least this). */
  get vocabSize(): number {
    return this.maxId + 1;
  }

  /** Token ids of `text` (no post-processor specials); with `bos`, the BOS id first. */
  encode(text: string, opts: { bos?: boolean } = {}): number[] {
    const ids = text === '' ? [] : this.tk.encode(text, { add_special_tokens: false }).ids;
    return opts.bos ? [this.special.bos, ...ids] : ids;
  }

  /** Text of `ids`; special tokens dropped unless skipSpecial is false. */
  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tk.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? true });
  }

  tokenToId(token: string): number | undefined {
    return this.tk.token_to_id(token);
  }
  idToToken(id: number): string | undefined {
    return this.tk.id_to_token(id);
  }
}

/**
 * A word-level tokenizer.json for the tiny world: ids 0.. for `<unk>`, the six Janus special tokens, the
 * template role markers, then the words (deduplicated, in order). Whitespace pre-tokenizer (words and runs of
 * punctuation), no normaliser. Words that mix punctuation with letters (e.g. `<think>`) become added tokens so
 * they stay whole; they are not special, so decoding keeps them.
 */
export function buildWordLevelTokenizer(words: readonly string[]): object {
  const specials: string[] = [WORLD_EXTRA_TOKENS.unk, ...Object.values(SPECIAL_TOKENS)];
  const roles: string[] = [WORLD_EXTRA_TOKENS.user, WORLD_EXTRA_TOKENS.assistant, ':'];
  const vocab: Record<string, number> = {};
  for (const w of [...specials, ...roles, ...words]) {
    if (/\s/.test(w) || w === '')
      throw new UserError(`word-level vocabulary: "${w}" is empty or has whitespace`);
    if (!(w in vocab)) vocab[w] = Object.keys(vocab).length;
  }
  const wholeWord = (w: string) => /\w/.test(w) && /[^\w]/.test(w);
  const added = Object.keys(vocab)
    .filter((w) => specials.includes(w) || roles.slice(0, 2).includes(w) || wholeWord(w))
    .map((w) => ({
      id: vocab[w]!,
      content: w,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: specials.includes(w),
    }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: WORLD_EXTRA_TOKENS.unk },
  };
}
