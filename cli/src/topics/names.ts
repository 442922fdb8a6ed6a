import type { TopicNames } from '@patternflow/records';
import type { Stage } from '@patternflow/service';

/**
 * A topic as an operator types it: a shorthand of this pipeline's namespace (`normalized`,
 * `tagged`, `normalized.priority`, `tagged.priority`, `dlq`, `skipped`, `dlq-redrives`, `ingest.<source>`, `routed.<lane>`), or a full
 * topic name, taken as it is.
 */
export function resolveTopic(name: string, topics: TopicNames): string {
  const fixed: Record<string, string> = {
    normalized: topics.normalized,
    tagged: topics.tagged,
    'normalized.priority': topics.normalizedPriority,
    'tagged.priority': topics.taggedPriority,
    dlq: topics.dlq,
    skipped: topics.skipped,
    'dlq-redrives': topics.dlqRedrives,
  };
  if (Object.hasOwn(fixed, name)) return fixed[name] as string;
  const ingest = /^ingest\.(.+)$/.exec(name);
  if (ingest) return topics.ingest(ingest[1] as string);
  const routed = /^routed\.(.+)$/.exec(name);
  if (routed) return topics.routed(routed[1] as string);
  return name;
}

/**
 * The topics a stage consumes, from the topics that exist: the ingestor reads every
 * ingest topic (also those of sources it has no pack for), the sink every lane topic, the
 * tagger and the router their expedited lane too (a replay must rewind both).
 */
export function stageInputTopics(stage: Stage, topics: TopicNames, existing: readonly string[]): string[] {
  switch (stage) {
    case 'ingestor':
      return existing.filter((topic) => topics.sourceOf(topic) !== undefined).sort();
    case 'inference-tagger':
      return [topics.normalizedPriority, topics.normalized];
    case 'priority-router':
      return [topics.taggedPriority, topics.tagged];
    case 'sink': {
      const prefix = topics.routed('');
      return existing.filter((topic) => topic.startsWith(prefix) && topic.length > prefix.length).sort();
    }
  }
}
