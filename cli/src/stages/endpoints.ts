import { STAGES, type Stage } from '@patternflow/service';
import { CliError, ExitCodes } from '../exit.ts';

/**
 * Where each stage's HTTP endpoint (/healthz, /readyz, /metrics) answers: by default where
 * `make run` puts them (127.0.0.1, PF_RUN_BASE_PORT and the next three, in stage order),
 * then PF_STAGE_URLS, then --stage-url, each `stage=url`.
 */
export function stageEndpoints(
  settings: { runBasePort: number; stageUrls: readonly string[] },
  flags: readonly string[],
): Record<Stage, string> {
  const urls = Object.fromEntries(
    STAGES.map((stage, index) => [stage, `http://127.0.0.1:${settings.runBasePort + index}`]),
  ) as Record<Stage, string>;
  for (const [origin, items] of [
    ['PF_STAGE_URLS', settings.stageUrls],
    ['--stage-url', flags],
  ] as const) {
    for (const item of items) {
      const { stage, url } = parseStageUrl(item, origin);
      urls[stage] = url;
    }
  }
  return urls;
}

function parseStageUrl(item: string, origin: string): { stage: Stage; url: string } {
  const at = item.indexOf('=');
  const stage = item.slice(0, Math.max(0, at));
  const url = item.slice(at + 1).replace(/\/+$/, '');
  if (at <= 0 || !(STAGES as readonly string[]).includes(stage)) {
    throw new CliError(
      ExitCodes.USAGE,
      `${origin}: expected <stage>=<url> with a stage among ${STAGES.join(', ')}, got "${item}"`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(ExitCodes.USAGE, `${origin}: "${url}" is not a URL (${stage})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CliError(ExitCodes.USAGE, `${origin}: ${stage}'s URL must be http or https, got "${url}"`);
  }
  return { stage: stage as Stage, url };
}
