import type { Writable } from 'node:stream';

/** Resolves once `stream` can take more writes ('drain') or will take none ('close'). */
export function drainedOrClosed(stream: Pick<Writable, 'on' | 'off'>): Promise<void> {
  return new Promise((resolve) => {
    const go = () => {
      stream.off('drain', go).off('close', go);
      resolve();
    };
    stream.on('drain', go).on('close', go);
  });
}
