import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, bottom-up, and what each may import (README "Layout"). A folder imports only the
 * folders listed for it; `no-restricted-imports` fails the lint on anything else.
 */
const LAYERS = {
  util: [],
  torch: ['util'],
  world: ['util'],
  model: ['torch', 'util'],
  bench: ['torch', 'util'],
  rewards: ['model', 'world', 'torch', 'util'],
  eval: ['rewards', 'model', 'world', 'torch', 'util'],
  rl: ['eval', 'rewards', 'model', 'world', 'torch', 'util'],
  merge: ['model', 'torch', 'util'],
  pretrain: ['eval', 'model', 'world', 'torch', 'util'],
  report: ['util'],
  pipeline: ['report', 'rl', 'pretrain', 'eval', 'rewards', 'model', 'world', 'torch', 'util'],
  cli: ['pipeline', 'report', 'merge', 'rl', 'pretrain', 'eval', 'rewards', 'model', 'world', 'bench', 'torch', 'util'],
};

const layering = Object.entries(LAYERS).map(([folder, allowed]) => {
  const forbidden = Object.keys(LAYERS).filter((f) => f !== folder && !allowed.includes(f));
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${forbidden.join('|')})(/|$)`,
              message: `src/${folder} may import only ${allowed.length ? allowed.join(', ') : 'no other folder of src'} (README, Layout).`,
            },
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layering,
);
