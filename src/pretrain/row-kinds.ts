/**
 * The kinds of SFT rows (described in data.ts, mixed by the presets in presets.ts). A file of its own, free of
 * tensors, so that reading a preset (every `corl pretrain` command line, checked before any work) does not
 * load libtorch.
 */
export const ROW_KINDS = ['gen', 'caption', 'oe', 'mcq', 'pope', 'mcq_text', 'pope_text'] as const;
export type RowKind = (typeof ROW_KINDS)[number];
/** The understanding (text-output) kinds. */
export const TEXT_KINDS = ['caption', 'oe', 'mcq', 'pope', 'mcq_text', 'pope_text'] as const;
export type TextKind = (typeof TEXT_KINDS)[number];
/** The understanding kinds asked about an image. */
export const IMAGE_KINDS = ['caption', 'oe', 'mcq', 'pope'] as const;

/** Rows of each kind in one batch. */
export type Mix = Partial<Record<RowKind, number>>;
