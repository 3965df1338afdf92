import '../../harness/matchers.js';
