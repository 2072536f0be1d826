// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Workflow code is replayed by Temporal and must be deterministic: no I/O, no
// Node built-ins, no wall clock or randomness except through the workflow APIs.
const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

// The folders of src/ are floors: each imports only from the floors below it, so
// the dependencies point one way and no folder needs another that needs it back
// (scripts/check-import-cycles.ts checks the whole graph; these rules name the
// floor that a wrong import reaches for, at the line that does it).
// `allowed` are the folders of src/ a file of the floor may import; `up` is the way
// from such a file to src/ ('../' for a file directly in its folder).
function floor(files, up, allowed, message) {
  const relative = up.replaceAll('.', '\\.');
  const regex = allowed.length === 0 ? `^${relative}` : `^${relative}(?!(?:${allowed.join('|')})/)`;
  return { files, rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ regex, message }] }] } };
}

export default tseslint.config(
  // What runs leave in the checkout (the demo's state with its workflow bundle, exports) is not source.
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', 'coverage/**', 'bin/**', '.demo/**', 'exports/**', 'tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow code must be deterministic: no Node built-ins.',
          })),
          patterns: [
            {
              group: ['**/activities/**', '**/activities'],
              allowTypeImports: true,
              message: 'Workflows import activities as types only (through proxyActivities).',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setInterval', message: 'Use workflow sleep/condition.' },
        { name: 'process', message: 'No process access in workflows.' },
        { name: 'fetch', message: 'No I/O in workflows: use an activity.' },
        { name: 'require', message: 'No dynamic loading in workflows.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use workflow-deterministic randomness (uuid4 from @temporalio/workflow).' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', disallowTypeAnnotations: false }],
    },
  },
  floor(['src/core/**/*.ts'], '../', [], 'src/core/ is the ground floor (contracts, error types, VM descriptions): it imports nothing from the other folders of src/.'),
  floor(['src/export/**/*.ts'], '../', ['core'], 'src/export/ (OVF, manifest, file names) builds on src/core/ only.'),
  floor(['src/providers/*/**/*.ts'], '../../', ['core'], 'A source provider implements src/core/source-provider.ts and imports only src/core/.'),
  floor(
    ['src/jobs/**/*.ts'],
    '../',
    ['core', 'config', 'temporal'],
    'src/jobs/ is used by the gateway, the CLIs and the worker alike: it imports only src/core/, src/config/ and src/temporal/, never a folder above it.',
  ),
  {
    files: ['**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
