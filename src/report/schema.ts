/**
 * The report card's data: what a run (`corl pipeline`, `corl pilot`) hands the renderer. Deliberately generic
 * (tables of cells, curves of points, image grids, sampled answers, a stage timeline) so the renderer knows
 * nothing of eval internals; the pipeline decides what goes in each table. Validated by zod on write and read.
 */
import { z } from 'zod';

/** A numeric result: mean, optional 95% CI half-width and sample count; `best` renders bold. */
export const NumberCellSchema = z
  .object({
    mean: z.number(),
    /** Half-width of the 95% confidence interval (see `ciHalfWidth`). */
    ci: z.number().min(0).optional(),
    /** How many values the mean is over (seeds, questions); shown on hover. */
    n: z.number().int().min(0).optional(),
    best: z.boolean().optional(),
  })
  .strict();

export const TextCellSchema = z.object({ text: z.string() }).strict();

/** One table cell: a number (mean ± CI), free text, or null (not measured; rendered as a dash). */
export const CellSchema = z.union([NumberCellSchema, TextCellSchema, z.null()]);

export const TableSchema = z
  .object({
    /** Stable id (unique among tables); rendered as `data-table-id`. */
    id: z.string().min(1),
    title: z.string(),
    caption: z.string().optional(),
    /** Header of the row-label column (e.g. 'stage', 'strategy'); empty by default. */
    row_header: z.string().default(''),
    /** Data columns (the row-label column is not counted). */
    columns: z.array(z.string()).min(1),
    rows: z.array(z.object({ label: z.string(), cells: z.array(CellSchema) }).strict()),
    /** Decimals of means and CIs (default 3: "0.712 ± 0.031"). */
    decimals: z.number().int().min(0).max(10).default(3),
  })
  .strict()
  .superRefine((t, ctx) => {
    t.rows.forEach((r, i) => {
      if (r.cells.length !== t.columns.length)
        ctx.addIssue({
          code: 'custom',
          path: ['rows', i, 'cells'],
          message: `row "${r.label}" has ${r.cells.length} cells but the table has ${t.columns.length} columns`,
        });
    });
  });

/** A y value; non-finite numbers (NaN from a failed step) become null, and null points are skipped. */
const YSchema = z.preprocess(
  (v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v),
  z.number().nullable(),
);

export const SeriesStyleSchema = z.enum(['line', 'faint', 'markers']);

export const CurveSchema = z
  .object({
    id: z.string().min(1),
    title: z.string(),
    /** Name of the x axis, e.g. 'step'. */
    x: z.string(),
    yLabel: z.string().optional(),
    caption: z.string().optional(),
    series: z.array(
      z
        .object({
          name: z.string(),
          points: z.array(z.tuple([z.number(), YSchema])),
          /**
           * How the series is drawn: `line` (the default), `faint` (thin and pale: raw per-step values under
           * their moving average) or `markers` (a marker at every point, joined by a thin line: held-out
           * evaluations every few steps).
           */
          style: SeriesStyleSchema.optional(),
          /** Colour index into the chart palette (default: the series' index): related series share one. */
          colour: z.number().int().min(0).optional(),
          /**
           * A shaded band around the series, [x, low, high] per point (e.g. the range over seeds), drawn
           * under every line in the series' colour.
           */
          band: z.array(z.tuple([z.number(), z.number(), z.number()])).optional(),
          /** false: left out of the legend (a whisker or a guide line drawn for another series). */
          legend: z.boolean().optional(),
        })
        .strict(),
    ),
  })
  .strict();

export const GridSchema = z
  .object({
    title: z.string(),
    caption: z.string().optional(),
    /** One column per stage (or model); every row has one image per column. */
    columns: z.array(z.string()).min(1),
    rows: z.array(
      z
        .object({
          prompt: z.string(),
          /** Paths relative to the report folder (PNG), or null where there is no image. */
          images: z.array(z.string().min(1).nullable()),
        })
        .strict(),
    ),
  })
  .strict()
  .superRefine((g, ctx) => {
    g.rows.forEach((r, i) => {
      if (r.images.length !== g.columns.length)
        ctx.addIssue({
          code: 'custom',
          path: ['rows', i, 'images'],
          message: `row "${r.prompt}" has ${r.images.length} images but the grid has ${g.columns.length} columns`,
        });
    });
  });

export const AnswerSchema = z
  .object({
    stage: z.string(),
    question: z.string(),
    solution: z.string(),
    answer: z.string(),
    correct: z.boolean().optional(),
  })
  .strict();

export const StageStatusSchema = z.enum(['done', 'cached', 'skipped', 'failed']);

export const StageSchema = z
  .object({
    name: z.string(),
    status: StageStatusSchema,
    seconds: z.number().min(0).optional(),
    detail: z.string().optional(),
  })
  .strict();

export const MetaSchema = z
  .object({
    title: z.string(),
    preset: z.string(),
    /** ISO 8601 timestamp. */
    created: z.iso.datetime({ offset: true }),
    wall_seconds: z.number().min(0),
    machine: z
      .object({
        cpus: z.number().int().min(0),
        threads: z.number().int().min(0),
        /** e.g. 'cpu' or 'cuda:0 (NVIDIA H100)'. */
        device: z.string().optional(),
      })
      .strict(),
    corl_version: z.string(),
    /** The command line that produced the run. */
    command: z.string(),
    notes: z.array(z.string()).default([]),
  })
  .strict();

function uniqueIds(kind: string) {
  return (items: { id: string }[], ctx: z.RefinementCtx) => {
    const seen = new Set<string>();
    items.forEach((it, i) => {
      if (seen.has(it.id))
        ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate ${kind} id "${it.id}"` });
      seen.add(it.id);
    });
  };
}

export const ReportSchema = z
  .object({
    format_version: z.literal(1).default(1),
    meta: MetaSchema,
    tables: z.array(TableSchema).default([]).superRefine(uniqueIds('table')),
    curves: z.array(CurveSchema).default([]).superRefine(uniqueIds('curve')),
    grids: z.array(GridSchema).default([]),
    answers: z.array(AnswerSchema).default([]),
    stages: z.array(StageSchema).default([]),
  })
  .strict();

export type NumberCell = z.infer<typeof NumberCellSchema>;
export type TextCell = z.infer<typeof TextCellSchema>;
export type Cell = z.infer<typeof CellSchema>;
/** A validated table (defaults filled); `ReportTableInput` is what callers may pass. */
export type ReportTable = z.infer<typeof TableSchema>;
export type ReportTableInput = z.input<typeof TableSchema>;
export type Curve = z.infer<typeof CurveSchema>;
export type SeriesStyle = z.infer<typeof SeriesStyleSchema>;
export type Grid = z.infer<typeof GridSchema>;
export type Answer = z.infer<typeof AnswerSchema>;
export type StageStatus = z.infer<typeof StageStatusSchema>;
export type Stage = z.infer<typeof StageSchema>;
export type ReportMeta = z.infer<typeof MetaSchema>;
/** A validated report (defaults filled), what the renderer takes. */
export type Report = z.infer<typeof ReportSchema>;
/** What the pipeline builds and passes to `writeReport` (optional fields may be left out). */
export type ReportInput = z.input<typeof ReportSchema>;

/** Validates report data; throws an Error listing every problem as `path: message`. */
export function parseReport(data: unknown, source = 'report'): Report {
  const r = ReportSchema.safeParse(data);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new ReportValidationError(`invalid ${source}: ${problems.join('; ')}`);
}

export class ReportValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportValidationError';
  }
}
