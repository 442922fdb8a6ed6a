/**
 * Production code never imports tooling. Production = every .ts file under libs/, cli/ and
 * services/ except tests; tooling = the packages under tools/ (by their package names)
 * and any file under tools/ or test/ reached by a relative path.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PRODUCTION_DIRS = ['libs', 'services', 'cli'];
const TOOLING_DIRS = ['tools', 'test'];

interface Violation {
  file: string;
  specifier: string;
}

function typeScriptFiles(dir: string): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : typeScriptFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Every module specifier of static imports/exports, side-effect imports and dynamic import(). */
function importSpecifiers(source: string): string[] {
  const pattern =
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  return [...source.matchAll(pattern)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** Package names of the tooling workspaces (tools/<dir>/package.json). */
function toolingPackages(root: string): string[] {
  return readdirSync(join(root, 'tools'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => {
      try {
        const manifest = JSON.parse(readFileSync(join(root, 'tools', entry.name, 'package.json'), 'utf8'));
        return [manifest.name as string];
      } catch {
        return [];
      }
    });
}

function findToolingImports(root: string): Violation[] {
  const packages = toolingPackages(root);
  const toolingDirs = TOOLING_DIRS.map((dir) => join(root, dir) + sep);
  const violations: Violation[] = [];
  for (const file of PRODUCTION_DIRS.flatMap((dir) => typeScriptFiles(join(root, dir)))) {
    for (const specifier of importSpecifiers(readFileSync(file, 'utf8'))) {
      const isToolingPackage = packages.some(
        (name) => specifier === name || specifier.startsWith(`${name}/`),
      );
      const isToolingPath =
        specifier.startsWith('.') &&
        toolingDirs.some((dir) => resolve(dirname(file), specifier).startsWith(dir));
      if (isToolingPackage || isToolingPath) violations.push({ file: relative(root, file), specifier });
    }
  }
  return violations;
}

test('no production file (libs/, services/, tests excluded) imports tools/ or test/', () => {
  assert.deepEqual(findToolingImports(ROOT), []);
});

test('the tooling packages are found by name', () => {
  const names = toolingPackages(ROOT);
  for (const name of ['@patternflow/generators', '@patternflow/harness', '@patternflow/fixtures']) {
    assert.ok(names.includes(name), `${name} in ${names}`);
  }
});

test('every import form is seen; a string that is not an import is not', () => {
  const text = [
    "import { a } from '@patternflow/harness';",
    'import type { B } from "@patternflow/fixtures";',
    "export { c } from '../../tools/generators/index.ts';",
    "import '@patternflow/generators/side-effect';",
    "const m = await import('../test/thing.ts');",
    'import {\n  d,\n  e,\n} from "@patternflow/records";',
    "const s = 'nothing from here';",
  ].join('\n');
  assert.deepEqual(importSpecifiers(text), [
    '@patternflow/harness',
    '@patternflow/fixtures',
    '../../tools/generators/index.ts',
    '@patternflow/generators/side-effect',
    '../test/thing.ts',
    '@patternflow/records',
  ]);
});

test('the check fails on a planted tooling import, by package name and by relative path', () => {
  const root = mkdtempSync(join(tmpdir(), 'pf-layout-'));
  try {
    mkdirSync(join(root, 'tools', 'harness'), { recursive: true });
    writeFileSync(join(root, 'tools', 'harness', 'package.json'), '{"name":"@patternflow/harness"}');
    mkdirSync(join(root, 'libs', 'foo'), { recursive: true });
    mkdirSync(join(root, 'services', 'bar', 'src'), { recursive: true });
    writeFileSync(join(root, 'libs', 'foo', 'index.ts'), "import { stack } from '@patternflow/harness';\n");
    writeFileSync(
      join(root, 'services', 'bar', 'src', 'main.ts'),
      "import { x } from '../../../test/helpers/x.ts';\nimport { y } from './y.ts';\n",
    );
    // A test file may import tooling: it is not production code.
    writeFileSync(
      join(root, 'libs', 'foo', 'index.test.ts'),
      "import { stack } from '@patternflow/harness';\n",
    );
    assert.deepEqual(findToolingImports(root), [
      { file: join('libs', 'foo', 'index.ts'), specifier: '@patternflow/harness' },
      { file: join('services', 'bar', 'src', 'main.ts'), specifier: '../../../test/helpers/x.ts' },
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
