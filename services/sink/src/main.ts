import { runMain } from '@patternflow/service';
import { sink } from './service.ts';

runMain(sink);
