// Second import of cmd/vigil.ts (after hardening): `vigil run` keeps V8's young generation at its
// starting size from before the rest of Vigil loads. Set in run() after the imports, it came too
// late: loading some 600 modules had grown the semi-spaces already, and they stay that size.
import { keepYoungGenerationSmall } from '../src/pipeline/memoryGuard.ts';

if (process.argv[2] === 'run') keepYoungGenerationSmall();
