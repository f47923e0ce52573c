/** What a pipeline run produces, shared by the runner (pipeline.ts) and the report (report.ts). */

/** Where a stage's model lives once it has run. */
export interface PipelineModels {
  base: string;
  stage1: string;
  gen: string;
  mcq: string;
  oe: string;
  merged: string;
}

/** Each model's `corl eval` result (the JSON line it printed), by model. */
export type EvalResults = Record<keyof PipelineModels, unknown>;
