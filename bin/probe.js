#!/usr/bin/env node
// The CLI lives in dist/: built by `npm run build` (and by `npm pack`/`npm publish` through prepack).
import('../dist/src/cli/main.js').then(
  (m) => m.main(process.argv.slice(2)),
  (e) => {
    if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli/main.js')) {
      process.stderr.write('error probe is not built: run `npm run build` in its folder\n');
    } else {
      process.stderr.write(`error ${e && e.stack ? e.stack : e}\n`);
    }
    process.exitCode = 1;
  },
);
