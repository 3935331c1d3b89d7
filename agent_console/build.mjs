// Build the console into chatserver/static/console/ (index.html, app.js, app.css).
//
// The output is committed, so the build must be deterministic: same sources and the same
// locked esbuild give the same bytes (no timestamps, no hashes of absolute paths, no
// source maps).  CI checks this with `make check-builds`.
import * as esbuild from "esbuild";
import { copyFile, mkdir, readdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "chatserver", "static", "console");
const watch = process.argv.includes("--watch");

// Every language has exactly the English keys: src/locales/{ar,uk}.ts are typed `Dict`
// (Record<keyof typeof en, string>), so `tsc --noEmit`, which `npm run build` runs first,
// fails on a missing or extra key.

await mkdir(out, { recursive: true });
// remove what an older build left (only our own kinds of files)
for (const name of await readdir(out)) {
  if (/\.(js|css|html|map)$/.test(name)) await rm(join(out, name));
}

const options = {
  absWorkingDir: here,
  entryPoints: { app: "src/main.tsx" },
  bundle: true,
  format: "iife",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: !watch,
  sourcemap: false,
  legalComments: "none",
  charset: "utf8",
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: out,
  entryNames: "[name]",
  loader: { ".css": "css" },
  define: { "process.env.NODE_ENV": watch ? '"development"' : '"production"' },
  logLevel: "info",
};

await copyFile(join(here, "src", "index.html"), join(out, "index.html"));
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
