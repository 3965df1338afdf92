import '../../harness/vitest/index.js';
