// The entry for browsers and bundlers: the .wasm beside this file is
// fetched and instantiated by a top-level await, so importers get a ready
// module.

import init from './douyu_wasm.js';

await init({ module_or_path: new URL('./douyu_wasm_bg.wasm', import.meta.url) });

export * from './api.js';
export { watch, DEFAULT_URL } from './watch.js';
