// The entry for Node: the module is compiled and instantiated on import,
// synchronously, from the .wasm beside this file.

import { readFileSync } from 'node:fs';
import { initSync } from './douyu_wasm.js';

initSync({ module: readFileSync(new URL('./douyu_wasm_bg.wasm', import.meta.url)) });

export * from './api.js';
export { watch, DEFAULT_URL } from './watch.js';
