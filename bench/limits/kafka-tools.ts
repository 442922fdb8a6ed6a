/**
 * Runs one of the Java tools that ship with the broker (`org.apache.kafka.tools.*`) from
 * the jars the Docker-less stack downloaded: `java -cp $PF_KAFKA_HOME/libs/*`, a small
 * heap, log4j2 to a file so that stdout keeps only the tool's results.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, PipelineError } from '@patternflow/errors';

const LOG4J_CONFIG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'stack', 'log4j2.properties');

/** `<kafkaHome>/libs`, after checking that the tools jar is there. */
export function kafkaToolsLibs(kafkaHome: string): string {
  const libs = join(kafkaHome, 'libs');
  // The stack names its folder kafka-<version> (scripts/stack.sh).
  const version = kafkaHome
    .replace(/\/+$/, '')
    .split('/')
    .pop()!
    .replace(/^kafka-/, '');
  if (!existsSync(join(libs, `kafka-tools-${version}.jar`))) {
    throw new PipelineError(ErrorCodes.CONFIG_INVALID, `no kafka-tools jar in ${libs}`, {
      details: { kafkaHome, hint: 'run `make up` (scripts/stack.sh up) first' },
    });
  }
  return libs;
}

export function runJava(options: {
  libs: string;
  logDir: string;
  heap: string;
  mainClass: string;
  args: string[];
  timeoutMs: number;
}): Promise<string> {
  const argv = [
    `-Xmx${options.heap}`,
    `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
    `-Dkafka.logs.file=${join(options.logDir, 'tools.log')}`,
    '-cp',
    `${options.libs}/*`,
    options.mainClass,
    ...options.args,
  ];
  return new Promise((resolve, reject) => {
    execFile(
      'java',
      argv,
      { timeout: options.timeoutMs, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new PipelineError(ErrorCodes.KAFKA, `${options.mainClass} failed: ${error.message}`, {
              cause: error,
              details: { stderr: stderr.slice(-2000), stdout: stdout.slice(-2000) },
            }),
          );
          return;
        }
        resolve(stdout);
      },
    );
  });
}
