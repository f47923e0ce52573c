/**
 * The unified model, Janus's `MultiModalityCausalLM`: one Llama LLM shared by
 *  - understanding: image -> vision_model (SigLIP ViT) -> aligner -> embeddings spliced into the text
 *    embeddings at the image-token positions (images_seq_mask), -> LLM -> lm_head (text);
 *  - generation: VQ codes -> gen_embed -> gen_aligner -> LLM -> gen_head (next-code logits), with
 *    gen_vision_model (VQ-VAE) turning images into codes and codes back into images.
 * Children are registered under Janus's names, so `stateDict()` keys are Janus checkpoint names.
 */
import * as torch from '../torch/index.js';
import { nn, type Tensor } from '../torch/index.js';
import { type ULMConfig, genGrid, numGenTokens, numImageTokens, visionDims } from './config.js';
import { LlamaForCausalLM, type LMForwardArgs } from './llm.js';
import { CLIPVisionTower } from './vit.js';
import { MlpProjector } from './aligner.js';
import { VisionHead } from './gen-head.js';
import { VQModel } from './vq.js';
import type { TextBatch, UnderstandingBatch } from './inputs.js';

export interface ULMInitOptions {
  /** Seeds every initialiser (deterministic random models). */
  generator?: torch.Generator;
}

export class MultiModalityCausalLM extends nn.Module {
  readonly vision_model: CLIPVisionTower;
  readonly aligner: MlpProjector;
  readonly gen_vision_model: VQModel;
  readonly gen_aligner: MlpProjector;
  readonly gen_head: VisionHead;
  readonly gen_embed: nn.Embedding;
  readonly language_model: LlamaForCausalLM;
  /**
   * Checkpoint tensors corl carries but never runs (the ViT's attention-pool head), written back by saveULM.
   * Owned by the model (freed by dispose()).
   */
  readonly passthrough = new Map<string, Tensor>();

  constructor(
    readonly config: ULMConfig,
    opts: ULMInitOptions = {},
  ) {
    super();
    const g = { generator: opts.generator };
    const c = config;
    this.vision_model = this.child('vision_model', new CLIPVisionTower(visionDims(c), g));
    this.aligner = this.child('aligner', new MlpProjector(c.aligner_config.params, g));
    this.gen_vision_model = this.child('gen_vision_model', new VQModel(c.gen_vision_config.params, g));
    this.gen_aligner = this.child('gen_aligner', new MlpProjector(c.gen_aligner_config.params, g));
    this.gen_head = this.child('gen_head', new VisionHead(c.gen_head_config.params, g));
    const gv = c.gen_vision_config.params;
    this.gen_embed = this.child('gen_embed', new nn.Embedding(gv.image_token_size, gv.n_embed, g));
    this.language_model = this.child('language_model', new LlamaForCausalLM(c.language_config, g));
  }

  /** Image tokens per understanding image. */
  get numImageTokens(): number {
    return numImageTokens(this.config);
  }
  /** Codes per generated image. */
  get numGenTokens(): number {
    return numGenTokens(this.config);
  }
  get genGrid(): [number, number] {
    return genGrid(this.config);
  }
  get hiddenSize(): number {
    return this.config.language_config.hidden_size;
  }
  /**
   * The device of the model's weights (Module.to moves them). Every entry point below moves its inputs there,
   * so callers build their batches on the CPU; what the model creates itself follows its inputs' device.
   */
  get device(): string {
    return this.language_model.device;
  }

  /** Preprocessed images [N, 3, H, W] -> aligned features [N, numImageTokens, hidden]. */
  imageEmbeds(pixelValues: Tensor): Tensor {
    return torch.tidy(() => this.aligner.forward(this.vision_model.forward(pixelValues.to(this.device))));
  }

  /**
   * Janus's prepare_inputs_embeds: token embeddings [B, S, D] with the image-token positions (imagesSeqMask,
   * row-major) filled, in order, with the features of `pixelValues` (all their tokens). Differentiable in both.
   */
  prepareInputsEmbeds(ids: Tensor, imagesSeqMask: Tensor | null, pixelValues: Tensor | null): Tensor {
    return torch.tidy(() => {
      const text = this.language_model.embed(ids.clamp(0)); // Janus: negative ids -> 0
      if (imagesSeqMask === null || pixelValues === null) return text;
      const [B, S, D] = text.shape as [number, number, number];
      const img = this.imageEmbeds(pixelValues).reshape([-1, D]); // [N * P, D]
      const mask = imagesSeqMask.toArray();
      const slots = mask.reduce((a, m) => a + m, 0);
      if (slots !== img.size(0))
        throw new Error(`images_seq_mask marks ${slots} positions but the images give ${img.size(0)} tokens`);
      // gather from [text rows; image rows]: position p takes image row k (in order) or its own text row
      const index = new BigInt64Array(B * S);
      let k = 0;
      for (let p = 0; p < B * S; p++) index[p] = BigInt(mask[p] ? B * S + k++ : p);
      const table = torch.cat([text.reshape([B * S, D]), img], 0);
      return table.indexSelect(0, torch.tensor(index, { device: table.device })).view([B, S, D]);
    });
  }

  /** Embeddings of a text or understanding batch. */
  embedBatch(batch: TextBatch | UnderstandingBatch): Tensor {
    const u = batch as Partial<UnderstandingBatch>;
    return this.prepareInputsEmbeds(batch.ids, u.imagesSeqMask ?? null, u.pixelValues ?? null);
  }

  /** Janus's prepare_gen_img_embeds: codes [B, N] -> gen_aligner(gen_embed(codes)) [B, N, hidden]. */
  genImageEmbeds(codes: Tensor): Tensor {
    return torch.tidy(() => this.gen_aligner.forward(this.gen_embed.forward(codes.to(this.device))));
  }

  /** The LLM (see LlamaForCausalLM.forward). */
  forward(args: LMForwardArgs): { hidden: Tensor; logits: Tensor | null } {
    return this.language_model.forward(args);
  }

  /** Text logits of hidden states. */
  textLogits(hidden: Tensor): Tensor {
    return this.language_model.lm_head.forward(hidden);
  }

  /** Next-code logits of hidden states (gen_head). */
  genLogits(hidden: Tensor): Tensor {
    return this.gen_head.forward(hidden);
  }

  override dispose(): void {
    super.dispose();
    for (const t of this.passthrough.values()) t.dispose();
    this.passthrough.clear();
  }
}
