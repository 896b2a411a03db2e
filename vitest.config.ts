import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Worker threads of the linker pool load the TypeScript sources.
    setupFiles: ["test/support/ts-workers.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores: model-building suites are heavy, keep parallelism modest.
    maxWorkers: 2,
  },
});
