// Writes a .gz and a .br next to every compressible file of the build, for
// core/webui to serve by Accept-Encoding. A compressed copy that saves
// nothing is not written (the handler then serves the original).
import { readdir, readFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const dist = process.argv[2] ?? fileURLToPath(new URL('../../core/webui/dist', import.meta.url));
const compressible = /\.(js|mjs|css|html|svg|json|txt|map|ttf|otf|eot|ico|xml|webmanifest)$/;

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(p);
    else yield p;
  }
}

let written = 0;
for await (const file of files(dist)) {
  if (!compressible.test(file)) continue;
  const data = await readFile(file);
  if ((await stat(file)).size < 256) continue;
  const gz = gzipSync(data, { level: 9 });
  const br = brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
  if (gz.length < data.length) { await writeFile(file + '.gz', gz); written++; }
  if (br.length < data.length) { await writeFile(file + '.br', br); written++; }
}
console.log(`compress: ${written} precompressed files in ${dist}`);
