import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; workflow tests run workflows alone over mocked activities; integration tests share one real stack (Temporal dev server, SeaweedFS S3, a fresh
// Postgres database) started once by test/support/global-setup.ts.
export default defineConfig({
  test: {
    // Node 20 is supported by the pinned AWS SDK; its warning about future releases is noise in test output.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' } },
      {
        // Workflows over mocked activities on the time-skipping test server (one per file), and history replay.
        test: {
          name: 'workflows',
          include: ['test/workflows/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
