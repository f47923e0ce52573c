/**
 * `corl score --task mcq|oe|format|pope --input FILE.jsonl [--json]`: scores completions with the answer
 * scorers of src/world/answers.ts. Each input line is {"completion": "...", "solution": "..."} (+ "problem"
 * for MCQ option texts). With --json it prints one line {"reward": r} per input, then {"mean": m, "n": k};
 * without, one summary line.
 */
import { Option, type Command } from 'commander';
import { SCORE_TASKS, scoreAnswer, type ScoreTask } from '../world/answers.js';
import { UserError } from '../util/errors.js';
import { readJsonl } from '../util/jsonl.js';

interface ScoreFlags {
  task: ScoreTask;
  input: string;
  json?: boolean;
}

function field(
  value: Record<string, unknown>,
  key: string,
  where: string,
  required: boolean,
): string | undefined {
  const v = value[key];
  if (v === undefined || v === null) {
    if (required) throw new UserError(`${where}: missing "${key}"`);
    return undefined;
  }
  if (typeof v !== 'string') throw new UserError(`${where}: "${key}" must be a string`);
  return v;
}

/** `corl score`: one reward per line, then the mean. */
function scoreAction(flags: ScoreFlags): void {
  const rewards: number[] = [];
  for (const { line, value } of readJsonl(flags.input)) {
    const where = `${flags.input}:${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new UserError(`${where}: expected a JSON object`);
    const obj = value as Record<string, unknown>;
    const completion = field(obj, 'completion', where, true) as string;
    const solution = field(obj, 'solution', where, flags.task !== 'format') ?? '';
    const problem = field(obj, 'problem', where, false);
    const r = scoreAnswer(flags.task, completion, solution, problem);
    rewards.push(r);
    if (flags.json) console.log(JSON.stringify({ reward: r }));
  }
  const mean = rewards.length === 0 ? 0 : rewards.reduce((a, b) => a + b, 0) / rewards.length;
  if (flags.json) console.log(JSON.stringify({ mean, n: rewards.length }));
  else console.log(`${flags.task}: mean reward ${mean.toFixed(4)} over ${rewards.length} completions`);
}

export function registerScoreCommands(program: Command): void {
  program
    .command('score')
    .description('score completions (format, MCQ letter, open-ended, POPE yes/no) from a JSONL file')
    .addOption(new Option('--task <task>', 'scorer').choices(SCORE_TASKS).makeOptionMandatory())
    .requiredOption('--input <file>', 'JSONL: {"completion", "solution", "problem"?} per line')
    .option('--json', 'one JSON line per input, then a summary line')
    .action(scoreAction);
}
