/**
 * The names of corl's rewards per modality, known without building the registry (the train config checks
 * its reward names against these at parse time; test/rewards/registry.test.ts checks they match the registry).
 */
export const REWARD_NAMES = {
  text: ['format', 'qa_accuracy', 'think_match'],
  image: ['t2i_bid_cycle_reward', 't2i_ti_sim', 't2i_clip_sim', 'geneval'],
} as const;

/**
 * The paper's rewards (CoRL stage 1, ULM-R1's `t2i_bid_cycle_reward t2i_ti_sim qa_accuracy format`, weights 1):
 * r_t2i = cycle + TIM, r_mm2t = accuracy + format, joined with lambda = 0.8 by src/rl/grpo.ts. Written once
 * here: the train config's default rewards and CORL_REWARDS are this.
 */
export const PAPER_REWARDS: Readonly<{
  image: Readonly<Record<string, number>>;
  text: Readonly<Record<string, number>>;
}> = {
  image: { t2i_bid_cycle_reward: 1, t2i_ti_sim: 1 },
  text: { qa_accuracy: 1, format: 1 },
};
