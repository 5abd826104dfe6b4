#!/usr/bin/env node
// In the repository the TypeScript sources run as they are (Node 24 strips types); the packed
// tarball holds no sources, only the JavaScript that `prepack` builds into dist/, because Node does
// not strip types inside node_modules and the CLI should run on any supported Node.
import { existsSync } from 'node:fs';

const source = new URL('../src/main.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/main.js', import.meta.url).href);
