// Lint rules, including STYLE.md's import direction: workers -> {workflows, activities, bridge, lib} -> domain.
// Workflow code runs in Temporal's deterministic sandbox: no Node builtins, no I/O clients, no activity values.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'path', 'os', 'crypto', 'http', 'https', 'net', 'tls', 'dns', 'child_process', 'worker_threads', 'stream', 'timers', 'process'];
const ioPackages = ['pino', 'pino-*', 'undici', '@kubernetes/client-node', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.tempered/**', 'coverage/**', 'test/fixtures/metal3/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2024, sourceType: 'module' },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    // The CLI, the start-up script, benchmarks and scripts talk to a terminal.
    files: ['cli/**', 'stack/start.ts', 'bench/**', 'deploy/**/*.ts', 'bin/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: '@temporalio/common/lib/internal-non-workflow', message: 'not usable in workflow code' }],
        patterns: [
          { group: nodeBuiltins, message: 'Workflow code runs in the deterministic sandbox: no Node builtins.' },
          { group: ioPackages, message: 'Workflow code may not import I/O clients or loggers; use activities and @temporalio/workflow log.' },
          { group: ['**/activities', '**/activities/**', '**/bridge/**', '**/agent-api/**', '**/workers/**', '**/sim/**', '**/stack/**'], allowTypeImports: true, message: 'Workflows import only types from activities (import type), never their values.' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' },
        { name: 'setInterval', message: 'use sleep() from @temporalio/workflow' },
        { name: 'fetch', message: 'I/O belongs in activities' },
        { name: 'process', message: 'no process access in workflows' }],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'use workflowRandom() from workflows/clock.ts' },
        { object: 'Date', property: 'now', message: 'use workflowNow() from workflows/clock.ts' }],
    },
  },
  {
    // The one place that reads the sandbox's deterministic clock and PRNG.
    files: ['workflows/clock.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['domain/**/*.ts'],
    ignores: ['domain/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: nodeBuiltins, message: 'domain/ is pure: no I/O.' },
          { group: [...ioPackages, '@temporalio/*'], message: 'domain/ is pure: no I/O clients, no Temporal.' },
          { group: ['**/activities/**', '**/workflows/**', '**/bridge/**', '**/agent-api/**', '**/workers/**', '**/sim/**', '**/stack/**', '**/cli/**'], message: 'domain/ imports nothing of the project but domain/.' },
        ],
      }],
    },
  },
);
