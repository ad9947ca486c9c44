#!/usr/bin/env node
// The gamepay command runs the compiled build in dist/, never the TypeScript sources: a serving
// process loads no compiler or transpiler. `npm install` and `npm ci` build it (the prepare script).
import { existsSync } from 'node:fs'

const main = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(main)) {
  console.error('gamepay: the compiled build (dist/) is missing; run `npm run build` (npm install and npm ci also build it)')
  process.exit(1)
}
await import(main.href)
