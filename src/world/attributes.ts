/**
 * The closed attribute sets of ShapesWorld: shapes, colours (with their RGB palette), sizes, and the number
 * words the grammar uses. Colours are far apart in RGB and in chromaticity so a noisy or blurred render
 * (a VQ-VAE reconstruction, say) still maps each object to its colour.
 */

export const SHAPES = ['circle', 'square', 'triangle', 'diamond'] as const;
export type Shape = (typeof SHAPES)[number];

export const COLORS = ['red', 'green', 'blue', 'yellow', 'purple', 'white'] as const;
export type Color = (typeof COLORS)[number];

export const SIZES = ['small', 'large'] as const;
export type Size = (typeof SIZES)[number];

/** The RGB value each colour is rendered with. */
export const PALETTE: Readonly<Record<Color, readonly [number, number, number]>> = {
  red: [230, 40, 40],
  green: [40, 200, 60],
  blue: [50, 90, 240],
  yellow: [235, 215, 40],
  purple: [170, 60, 220],
  white: [230, 230, 230],
};

/**
 * Half-extent of each size as a fraction of the image side (4 and 6 pixels at 32x32). Every shape fills the
 * square box [x - r, x + r] x [y - r, y + r].
 */
export const SIZE_RADIUS: Readonly<Record<Size, number>> = { small: 4 / 32, large: 6 / 32 };

/** Corners of each shape, for the arithmetic questions. */
export const CORNERS: Readonly<Record<Shape, number>> = { circle: 0, square: 4, triangle: 3, diamond: 4 };

export function plural(shape: Shape): string {
  return `${shape}s`;
}

/** "1 circle", "2 circles". */
export function countNoun(n: number, noun: string): string {
  return `${n} ${n === 1 ? noun : `${noun}s`}`;
}

/** Number words the prompts use ("two circles"); index = value. */
export const NUMBER_WORDS = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
  'twenty',
] as const;

export function isShape(s: string): s is Shape {
  return (SHAPES as readonly string[]).includes(s);
}
export function isColor(s: string): s is Color {
  return (COLORS as readonly string[]).includes(s);
}
export function isSize(s: string): s is Size {
  return (SIZES as readonly string[]).includes(s);
}
