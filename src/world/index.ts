/** ShapesWorld: the embedded synthetic world (see docs/world.md). */
export * from './attributes.js';
export * from './relations.js';
export * from './rng.js';
export * from './scene.js';
export * from './image.js';
export * from './render.js';
export * from './png.js';
export * from './geneval.js';
export * from './prompts.js';
export * from './templates.js';
export * from './questions.js';
export * from './caption.js';
export * from './detect.js';
export * from './vocabulary.js';
export * from './dataset.js';
export * from './contact-sheet.js';
export { drawText, wrapText } from './font.js';
