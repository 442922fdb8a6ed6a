import { runMain } from '@patternflow/service';
import { ingestor } from './service.ts';

runMain(ingestor);
