import '../../harness/vitest/matchers.js';
