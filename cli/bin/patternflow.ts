#!/usr/bin/env node
import { run } from '../src/main.ts';

// kafkajs hands setTimeout a negative delay on every connection (tulios/kafkajs#1751): Node
// clamps it to 1 ms and prints a TimeoutNegativeWarning that means nothing to an operator.
// That one warning type is dropped; every other warning is printed as Node would.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'TimeoutNegativeWarning')
    process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

process.exitCode = await run(process.argv.slice(2));
