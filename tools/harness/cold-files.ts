import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** The id of every line of every committed cold file under `dir` (an id twice means a duplicate). */
export function coldFileIds(dir: string): string[] {
  const ids: string[] = [];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ndjson.gz')) {
        for (const line of gunzipSync(readFileSync(path)).toString('utf8').split('\n')) {
          if (line.trim()) ids.push((JSON.parse(line) as { id: string }).id);
        }
      }
    }
  };
  walk(dir);
  return ids;
}
