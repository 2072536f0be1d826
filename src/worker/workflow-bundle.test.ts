// The workflow bundle cache: built by a child process, reused while its inputs
// are unchanged, built again whenever one of them changes.
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { bundleInputs, CHANGED, cachedWorkflowBundle, storeBundle, validBundle } from './workflow-bundle.js';

const nodeModules = realpathSync(fileURLToPath(new URL('../../node_modules', import.meta.url)));

describe('cachedWorkflowBundle', () => {
  let dir: string;
  let cacheDir: string;
  let workflowsPath: string;
  let built: string[];
  const bundle = () => cachedWorkflowBundle({ cacheDir, workflowsPath, log: (line) => built.push(line) });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hypersdk-bundle-test-'));
    cacheDir = join(dir, 'cache');
    workflowsPath = join(dir, 'src', 'workflows.ts');
    built = [];
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    symlinkSync(nodeModules, join(dir, 'node_modules'));
    // A workflow that imports a package and a relative module.
    writeFileSync(
      workflowsPath,
      "import { sleep } from '@temporalio/workflow';\nimport { greeting } from './helper.js';\nexport async function hello(): Promise<string> {\n  await sleep(1);\n  return greeting;\n}\n",
    );
    writeFileSync(join(src, 'helper.js'), "export const greeting = 'greeting from js';\n");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reuses a bundle while its inputs are unchanged and makes a new one when any changes', async () => {
    const first = (await bundle()).codePath;
    expect(built).toHaveLength(1);
    expect(readFileSync(first, 'utf8')).toContain('greeting from js');
    expect((await bundle()).codePath).toBe(first);
    expect(built).toHaveLength(1);

    // A source edited.
    writeFileSync(workflowsPath, readFileSync(workflowsPath, 'utf8').replace('sleep(1)', 'sleep(2)'));
    const edited = (await bundle()).codePath;
    expect(built).toHaveLength(2);
    expect(edited).not.toBe(first);
    expect((await bundle()).codePath).toBe(edited);

    // A new file that the import now resolves to (.ts comes before .js).
    writeFileSync(join(dir, 'src', 'helper.ts'), "export const greeting = 'greeting from ts';\n");
    const shadowed = (await bundle()).codePath;
    expect(built).toHaveLength(3);
    expect(readFileSync(shadowed, 'utf8')).toContain('greeting from ts');

    // The bundle file damaged.
    writeFileSync(shadowed, readFileSync(shadowed, 'utf8').replace('greeting from ts', 'greeting from ?s'));
    const repaired = (await bundle()).codePath;
    expect(built).toHaveLength(4);
    expect(readFileSync(repaired, 'utf8')).toContain('greeting from ts');

    // node_modules pointed elsewhere (here: the same packages through another link).
    const other = join(dir, 'other-node-modules');
    symlinkSync(nodeModules, other);
    unlinkSync(join(dir, 'node_modules'));
    symlinkSync(other, join(dir, 'node_modules'));
    await bundle();
    expect(built).toHaveLength(5);
  }, 120_000);

  it('fails with the bundler’s reason when the workflow code cannot be bundled', async () => {
    writeFileSync(
      workflowsPath,
      "import { readFileSync } from 'node:fs';\nexport async function hello(): Promise<string> {\n  return readFileSync('/etc/hostname', 'utf8');\n}\n",
    );
    await expect(bundle()).rejects.toThrow(/bundling the workflow code failed \(exit 1\):[\s\S]*node:fs/);
  }, 60_000);

  describe('the manifest', () => {
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    const store = (contents: Map<string, string>, lookedFor: string[] = []) =>
      storeBundle(
        cacheDir,
        workflowsPath,
        '// bundle\n',
        bundleInputs({ contents, files: contents.keys(), lookedFor }),
      );

    it('holds while every file has the content webpack read', () => {
      const codePath = store(new Map([[workflowsPath, sha(readFileSync(workflowsPath, 'utf8'))]]));
      expect(validBundle(cacheDir, workflowsPath)).toBe(codePath);
    });

    it('does not hold for a file edited after webpack read it, even during the bundling', () => {
      store(new Map([[workflowsPath, sha('the content before an edit')]]));
      expect(validBundle(cacheDir, workflowsPath)).toBeUndefined();
    });

    it('does not hold for a file whose content changed between two reads', () => {
      store(new Map([[workflowsPath, CHANGED]]));
      expect(validBundle(cacheDir, workflowsPath)).toBeUndefined();
    });

    it('does not hold once a path webpack looked for exists, even if it appeared during the bundling', () => {
      const lookedFor = join(dir, 'src', 'helper.ts');
      writeFileSync(lookedFor, 'export const greeting = 1;\n');
      store(new Map([[workflowsPath, sha(readFileSync(workflowsPath, 'utf8'))]]), [lookedFor]);
      expect(validBundle(cacheDir, workflowsPath)).toBeUndefined();
    });

    it('does not hold for a bundle file that is not the one recorded', () => {
      const codePath = store(new Map([[workflowsPath, sha(readFileSync(workflowsPath, 'utf8'))]]));
      writeFileSync(codePath, '// another bundle\n');
      expect(validBundle(cacheDir, workflowsPath)).toBeUndefined();
    });
  });
});
