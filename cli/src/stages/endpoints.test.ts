import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../exit.ts';
import { stageEndpoints } from './endpoints.ts';

test('by default where make run puts the stages; PF_STAGE_URLS, then --stage-url, override', () => {
  assert.deepEqual(stageEndpoints({ runBasePort: 9464, stageUrls: [] }, []), {
    ingestor: 'http://127.0.0.1:9464',
    'inference-tagger': 'http://127.0.0.1:9465',
    'priority-router': 'http://127.0.0.1:9466',
    sink: 'http://127.0.0.1:9467',
  });
  const urls = stageEndpoints(
    { runBasePort: 39520, stageUrls: ['sink=http://sink:9467/', 'ingestor=http://a:1'] },
    ['ingestor=https://b:2'],
  );
  assert.equal(urls.sink, 'http://sink:9467');
  assert.equal(urls.ingestor, 'https://b:2');
  assert.equal(urls['priority-router'], 'http://127.0.0.1:39522');
});

test('a bad stage or URL is a usage error naming where it came from', () => {
  const usage = (origin: RegExp) => (error: unknown) =>
    error instanceof CliError && error.exitCode === 2 && origin.test(error.message);
  assert.throws(
    () => stageEndpoints({ runBasePort: 1, stageUrls: ['router=http://x'] }, []),
    usage(/PF_STAGE_URLS/),
  );
  assert.throws(() => stageEndpoints({ runBasePort: 1, stageUrls: [] }, ['sink']), usage(/--stage-url/));
  assert.throws(() => stageEndpoints({ runBasePort: 1, stageUrls: [] }, ['sink=nope']), usage(/not a URL/));
  assert.throws(
    () => stageEndpoints({ runBasePort: 1, stageUrls: [] }, ['sink=ftp://x']),
    usage(/http or https/),
  );
});
