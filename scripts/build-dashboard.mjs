// Bundles the dashboard's browser code (src/dashboard) into dist/dashboard/assets: one
// script, one stylesheet and the page, so the server serves three files and fetches nothing else.
import { copyFile, mkdir } from "node:fs/promises";
import { build } from "esbuild";

const source = new URL("../src/dashboard/", import.meta.url);
const target = new URL("../dist/dashboard/assets/", import.meta.url);

await mkdir(target, { recursive: true });
await build({
  entryPoints: {
    dashboard: new URL("main.ts", source).pathname,
  },
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  outdir: target.pathname,
  logLevel: "warning",
});
await build({
  entryPoints: { dashboard: new URL("dashboard.css", source).pathname },
  bundle: true,
  minify: true,
  outdir: target.pathname,
  logLevel: "warning",
});
await copyFile(new URL("dashboard.html", source), new URL("dashboard.html", target));
