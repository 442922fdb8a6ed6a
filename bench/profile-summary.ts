/**
 * Top self-time entries of a V8 .cpuprofile (as written by `node --cpu-prof`):
 *
 *   node bench/profile-summary.ts <file.cpuprofile>... [--top 15] [--from-ms 0] [--json]
 *
 * Self time per sample is taken from timeDeltas (the time until the next sample), summed
 * per function + url + line. Percentages are of the busy time, i.e. without "(idle)".
 * A second table rolls self time up by package (node_modules/<pkg>, node: internals,
 * libs/<lib>, services/<service>, or the V8 pseudo-entries).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeEntry {
  function: string;
  url: string;
  line: number;
  selfMs: number;
  percentOfBusy: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  busyMs: number;
  top: SelfTimeEntry[];
  byPackage: { package: string; selfMs: number; percentOfBusy: number }[];
}

/**
 * fromMs/toMs: only the samples taken that long after the profile's start (e.g. to leave
 * out a service's startup and warm-up).
 */
export function summarizeProfile(
  file: string,
  top = 15,
  window: { fromMs?: number; toMs?: number } = {},
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  const fromUs = (window.fromMs ?? 0) * 1000;
  const toUs = (window.toMs ?? Number.POSITIVE_INFINITY) * 1000;
  // timeDeltas[i] is the time between sample i-1 and sample i: attribute it to sample i-1.
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromUs || at > toUs) continue;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
  }
  const entries = new Map<string, { function: string; url: string; line: number; us: number }>();
  const packages = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const name = frame.functionName || '(anonymous)';
    const key = `${name}\u0000${frame.url}\u0000${frame.lineNumber}`;
    const entry = entries.get(key) ?? {
      function: name,
      url: shortUrl(frame.url),
      line: frame.lineNumber + 1,
      us: 0,
    };
    entry.us += us;
    entries.set(key, entry);
    const pkg = packageOf(frame.url, name);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  const ms = (us: number) => Math.round(us / 100) / 10;
  const pct = (us: number) => Math.round((us / busyUs) * 1000) / 10;
  return {
    file,
    totalMs: ms(totalUs),
    idleMs: ms(idleUs),
    busyMs: ms(busyUs),
    top: [...entries.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((entry) => ({
        function: entry.function,
        url: entry.url,
        line: entry.line,
        selfMs: ms(entry.us),
        percentOfBusy: pct(entry.us),
      })),
    byPackage: [...packages.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ package: name, selfMs: ms(us), percentOfBusy: pct(us) })),
  };
}

function shortUrl(url: string): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) return path.slice(modules + 1);
  const repo = path.search(/\/(libs|services|bench|scripts)\//);
  return repo >= 0 ? path.slice(repo + 1) : path;
}

function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native/builtin)';
  if (url.startsWith('node:')) return 'node: internals';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = path.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const repo = path.match(/\/((?:libs|services)\/[^/]+)\//);
  return repo ? repo[1]! : shortUrl(url);
}

export function formatSummary(summary: ProfileSummary): string {
  const lines = [
    `${summary.file}: ${summary.busyMs} ms busy of ${summary.totalMs} ms sampled (${summary.idleMs} ms idle)`,
    '  self ms   % busy  function  (url:line)',
  ];
  for (const entry of summary.top) {
    lines.push(
      `${String(entry.selfMs).padStart(9)}  ${String(entry.percentOfBusy).padStart(6)}  ${entry.function}  (${entry.url}${entry.url ? `:${entry.line}` : ''})`,
    );
  }
  lines.push('  by package:');
  for (const pkg of summary.byPackage) {
    lines.push(`${String(pkg.selfMs).padStart(9)}  ${String(pkg.percentOfBusy).padStart(6)}  ${pkg.package}`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 15;
  const fromIndex = args.indexOf('--from-ms');
  const fromMs = fromIndex >= 0 ? Number(args[fromIndex + 1]) : 0;
  const values = new Set([topIndex + 1, fromIndex + 1].filter((i) => i > 0));
  const files = args.filter((arg, i) => !arg.startsWith('--') && !values.has(i));
  if (files.length === 0) {
    process.stderr.write(
      'usage: node bench/profile-summary.ts <file.cpuprofile>... [--top 15] [--from-ms 0] [--json]\n',
    );
    process.exit(2);
  }
  const summaries = files.map((file) => summarizeProfile(file, top, { fromMs }));
  if (args.includes('--json')) process.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
  else process.stdout.write(`${summaries.map(formatSummary).join('\n\n')}\n`);
}
