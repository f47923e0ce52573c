/**
 * The names of corl's rewards per modality, known without building the registry (the train config checks
 * its reward names against these at parse time; test/rewards/registry.test.ts checks they match the registry).
 */
export const REWARD_NAMES = {
  text: ['format', 'qa_accuracy'],
  image: ['t2i_bid_cycle_reward', 't2i_ti_sim', 't2i_clip_sim', 'geneval'],
} as const;
