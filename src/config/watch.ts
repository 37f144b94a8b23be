/**
 * `gateway start --watch`: reload when the config file changes.
 *
 * The directory is watched, not the file: editors save by writing a temp file and renaming it over
 * the old one (the file's inode changes, a watch on it goes silent), and a Kubernetes ConfigMap
 * swaps a `..data` symlink, so the file's own name never shows up in an event. Any event in the
 * directory starts a debounce; when it ends, the file is read and a reload is asked for only when
 * its text differs from the last text seen (a burst of saves is one reload; a touch is none).
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';

export interface ConfigWatcher {
  close(): void;
}

export async function watchConfigFile(file: string, onChange: () => void, logger: Logger, debounceMs = 250): Promise<ConfigWatcher> {
  const path = resolve(file);
  const read = () => readFile(path, 'utf8').catch(() => undefined);
  let last = await read();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const check = async () => {
    timer = undefined;
    const text = await read();
    // A rename leaves a moment with no file: the next event will bring it back.
    if (closed || text === undefined || text === last) return;
    last = text;
    onChange();
  };
  let watcher: FSWatcher;
  try {
    watcher = watch(dirname(path), { persistent: false }, () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => void check(), debounceMs);
    });
  } catch (err) {
    logger.error({ event: 'config.watch_failed', file, reason: (err as Error).message }, 'cannot watch the config file; reload with SIGHUP');
    return { close() {} };
  }
  watcher.on('error', (err) => logger.error({ event: 'config.watch_failed', file, reason: err.message }, 'watching the config file failed; reload with SIGHUP'));
  logger.info({ event: 'config.watching', file: path }, 'reloading the config when the file changes');
  return {
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      watcher.close();
    },
  };
}
