import { runMain } from '@patternflow/service';
import { tagger } from './service.ts';

runMain(tagger);
