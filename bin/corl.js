#!/usr/bin/env node
// The corl command. The TypeScript sources run directly through tsx's loader (no separate JS build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
