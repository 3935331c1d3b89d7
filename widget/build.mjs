// Bundle src/ into ONE file, chatserver/static/widget.js.
//
// The output must be byte-for-byte reproducible (CI rebuilds it and diffs the committed
// file): no timestamps, no content hashes, no absolute paths, pinned esbuild version.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const pkg = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));
const outfile = new URL("../chatserver/static/widget.js", import.meta.url).pathname;

await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  minify: true,
  format: "iife",
  platform: "browser",
  target: ["es2020"],
  // ASCII only: the file may be loaded by pages in any charset
  charset: "ascii",
  legalComments: "none",
  banner: {
    js:
      `/*! chatserver visitor widget ${pkg.version} - built from widget/ by "make widget"; ` +
      "do not edit. Includes @msgpack/msgpack (ISC license). */",
  },
  outfile,
  logLevel: "warning",
});

const data = readFileSync(outfile);
const gz = gzipSync(data, { level: 9 }).length;
console.log(`widget.js: ${data.length} bytes, ${gz} bytes gzipped (-9)`);
