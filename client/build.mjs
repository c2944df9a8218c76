// Builds the viewer for serving (npm run build; scripts/setup.sh runs it): minified, tree-shaken bundles per
// page, split where the page imports dynamically (main.js loads three.js and the zstd decoder beside the
// connection, not before it), content-hashed names under dist/assets/ so they can be cached for good, source
// maps beside them, and every file precompressed as .br and .gz for clients that accept them. The pages go to
// dist/ with their script tag pointing at the hashed entry and a modulepreload for each chunk it loads, so
// the browser fetches them all at once.
import { build } from 'esbuild';
import './wasm/build.mjs'; // the range decoder's WebAssembly first: its source may have changed since npm ci
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const pages = { 'index.html': 'src/main.js', 'streams.html': 'src/streams.js' };

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'assets'), { recursive: true });
const result = await build({
  absWorkingDir: here,
  entryPoints: Object.values(pages),
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022', // top-level await (protocol.js waits for the zstd decoder)
  sourcemap: 'linked',
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  splitting: true,
  metafile: true,
  logLevel: 'warning',
});

const bundles = {}; // entry point → served path
const loads = {}; // entry point → the chunks it imports, statically or dynamically (served paths)
for (const [out, meta] of Object.entries(result.metafile.outputs)) {
  if (meta.entryPoint) {
    bundles[meta.entryPoint] = `/assets/${basename(out)}`;
    loads[meta.entryPoint] = meta.imports.filter((i) => !i.external).map((i) => `/assets/${basename(i.path)}`);
  }
  if (out.endsWith('.js')) {
    const path = join(here, out);
    const body = readFileSync(path);
    writeFileSync(`${path}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
    writeFileSync(`${path}.gz`, gzipSync(body, { level: 9 }));
  }
}

for (const [page, entry] of Object.entries(pages)) {
  const source = readFileSync(join(here, page), 'utf8');
  const tag = `<script type="module" src="/${entry}"></script>`;
  if (!source.includes(tag)) throw new Error(`${page} has no ${tag}`);
  // the development head (import map, module preloads) is between these markers: the bundle needs none of it
  const preloads = loads[entry].map((path) => `  <link rel="modulepreload" href="${path}">\n`).join('');
  const built = source.replace(/ *<!-- dev:start -->[\s\S]*?<!-- dev:end -->\n?/g, preloads)
    .replace(tag, `<script type="module" src="${bundles[entry]}"></script>`);
  writeFileSync(join(dist, page), built);
}
console.log(`client built: ${Object.entries(pages).map(([page, entry]) => `${page} → ${bundles[entry]}`
  + ` (+ ${loads[entry].length} chunks)`).join(', ')}`);
