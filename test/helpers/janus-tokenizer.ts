/**
 * A byte-level BPE tokenizer.json shaped like Janus-Pro's (ByteLevel pre-tokenizer and decoder, the 256 byte
 * symbols, no merges) whose special tokens sit at ids the caller picks, far from corl's word-level ones, so a
 * test shows that ids come from the files. Also the side files Janus-Pro ships that name special tokens.
 */
import { SPECIAL_TOKENS } from '../../src/model/tokenizer.js';

/** The role markers Janus adds as special tokens. */
export const ROLE_TOKENS = ['<|User|>', '<|Assistant|>'] as const;

/** GPT-2's byte -> printable-character table (what the ByteLevel pre-tokenizer maps bytes to). */
function byteSymbols(): Record<string, number> {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  const vocab: Record<string, number> = {};
  bs.forEach((b, i) => (vocab[String.fromCharCode(cs[i]!)] = b));
  return vocab;
}

/**
 * tokenizer.json: bytes are ids 0..255; the special tokens (Janus's six, the two role markers, and `extra`
 * strings) are added tokens at ids `firstSpecial`, `firstSpecial + step`, ... in that order.
 */
export function byteLevelTokenizer(firstSpecial = 300, step = 3, extra: readonly string[] = []): object {
  const specials = [...Object.values(SPECIAL_TOKENS), ...ROLE_TOKENS, ...extra];
  const added = specials.map((content, i) => ({
    id: firstSpecial + i * step,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: null,
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: byteSymbols(),
      merges: [],
    },
  };
}

/** special_tokens_map.json as Janus-Pro ships it (AddedToken objects for BOS / EOS). */
export function specialTokensMap(bos: string = SPECIAL_TOKENS.bos, eos: string = SPECIAL_TOKENS.eos): object {
  const tok = (content: string) => ({
    content,
    lstrip: false,
    normalized: true,
    rstrip: false,
    single_word: false,
  });
  return {
    additional_special_tokens: [SPECIAL_TOKENS.image, ...ROLE_TOKENS],
    bos_token: tok(bos),
    eos_token: tok(eos),
    pad_token: tok(SPECIAL_TOKENS.pad),
  };
}

/** processor_config.json as Janus-Pro ships it (VLChatProcessor's arguments). */
export function processorConfig(numImageTokens = 576): object {
  return {
    add_special_token: false,
    ignore_id: -100,
    image_tag: SPECIAL_TOKENS.image,
    mask_prompt: true,
    num_image_tokens: numImageTokens,
    processor_class: 'VLChatProcessor',
    sft_format: 'deepseek',
  };
}
