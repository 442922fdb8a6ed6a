import { runMain } from '@patternflow/service';
import { router } from './service.ts';

runMain(router);
