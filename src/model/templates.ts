/**
 * Janus's prompt templates (the "deepseek" conversation format of janus/utils/conversation.py: roles
 * "<|User|>" / "<|Assistant|>", sep "\n\n" after user turns, sep2 = EOS after assistant turns, an empty
 * assistant turn renders as "<|Assistant|>:"). ULM-R1 uses an empty system prompt, which is the default here;
 * Janus's own default system prompt is exported for callers who want it.
 */
export const JANUS_SYSTEM_PROMPT =
  'You are a helpful language and vision assistant. You are able to understand the visual content that the ' +
  'user provides, and assist the user with a variety of tasks using natural language.';

export const USER = '<|User|>';
export const ASSISTANT = '<|Assistant|>';
export const EOS_TEXT = '<｜end▁of▁sentence｜>';
export const IMAGE_TAG = '<image_placeholder>';
export const IMAGE_START_TAG = '<begin_of_image>';

export interface Message {
  role: typeof USER | typeof ASSISTANT;
  content: string;
}

export interface TemplateOptions {
  /** Default "" (ULM-R1). */
  systemPrompt?: string;
  /** The string closing assistant turns (default Janus's EOS). */
  eos?: string;
}

/** `apply_sft_template_for_multi_turn_prompts`: contents stripped, the whole prompt stripped. */
export function sftFormat(messages: readonly Message[], opts: TemplateOptions = {}): string {
  const system = opts.systemPrompt ?? '';
  const seps = ['\n\n', opts.eos ?? EOS_TEXT];
  let out = system === '' ? '' : system + seps[0];
  messages.forEach((m, i) => {
    const content = m.content.trim();
    out += content ? `${m.role}: ${content}${seps[i % 2]}` : `${m.role}:`;
  });
  return out.trim();
}

/** Understanding prompt: "<|User|>: <image_placeholder>\n{question}\n\n<|Assistant|>:". */
export function understandingPrompt(question: string, opts: TemplateOptions = {}): string {
  return sftFormat(
    [
      { role: USER, content: `${IMAGE_TAG}\n${question}` },
      { role: ASSISTANT, content: '' },
    ],
    opts,
  );
}

/**
 * The understanding prompt in three pieces (before + text + after === understandingPrompt(text)), so that the
 * caption's tokens can be located by encoding the pieces separately (the TIM reward's text span).
 */
export function understandingPromptParts(
  text: string,
  opts: TemplateOptions = {},
): { before: string; text: string; after: string } {
  const full = understandingPrompt(text, opts);
  const t = text.trim();
  const at = full.lastIndexOf(`${IMAGE_TAG}\n${t}`) + IMAGE_TAG.length + 1;
  return { before: full.slice(0, at), text: t, after: full.slice(at + t.length) };
}

/** Generation prompt: "<|User|>: {prompt}\n\n<|Assistant|>:<begin_of_image>". */
export function generationPrompt(prompt: string, opts: TemplateOptions = {}): string {
  return (
    sftFormat(
      [
        { role: USER, content: prompt },
        { role: ASSISTANT, content: '' },
      ],
      opts,
    ) + IMAGE_START_TAG
  );
}

/** The text an assistant answer adds after a prompt ending in "<|Assistant|>:": " {answer}{eos}". */
export function answerCompletion(answer: string, opts: TemplateOptions = {}): string {
  return ` ${answer.trim()}${opts.eos ?? EOS_TEXT}`;
}
