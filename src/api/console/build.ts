/**
 * Builds the web console into `assets/` (or the directory given): one script, one style sheet
 * and the page, bundled and minified by esbuild with nothing of this machine in them (no
 * source map, no paths, no timestamps), so the same sources give the same bytes anywhere and a
 * test checks that the committed files are what the sources build. Run: `npm run build:console`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const APP = join(import.meta.dirname, 'app');
export const ASSETS = join(import.meta.dirname, 'assets');

/** The page: the script and the style sheet, nothing inline (the console's CSP refuses inline code). */
const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Vigil console</title>
    <link rel="stylesheet" href="/ui/app.css" />
    <script type="module" src="/ui/app.js"></script>
  </head>
  <body>
    <div id="app"></div>
  </body>
</html>
`;

export async function buildConsole(outDir = ASSETS): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: { app: join(APP, 'main.tsx') },
    outdir: outDir,
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022', 'chrome111', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    sourcemap: false,
    legalComments: 'eof',
    charset: 'utf8',
    logLevel: 'warning',
    absWorkingDir: APP,
  });
  writeFileSync(join(outDir, 'index.html'), PAGE);
}

if (import.meta.main) await buildConsole(process.argv[2]);
