import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/harness/global-setup.ts'],
          setupFiles: ['test/harness/quiet-runtime.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Two cores: files share the services; run them two at a time.
          maxWorkers: 2,
        },
      },
    ],
  },
});
