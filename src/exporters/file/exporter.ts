import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { ComponentShutDownError } from '../../errors.ts';
import { toJson } from '../../model/attributes.ts';
import type { VigilEvent } from '../../model/event.ts';
import { eventToJson } from '../../model/eventJson.ts';
import type { CreateSettings, Exporter } from '../../pipeline/component.ts';
import type { Signal } from '../../pipeline/signals.ts';
import type { FileExporterConfig } from './config.ts';

/** Appends every record as one JSON line; rotates by size. Useful to users and to tests. */
export class FileExporter implements Exporter {
  private readonly settings: CreateSettings;
  private readonly config: FileExporterConfig;
  readonly path: string;
  private handle: FileHandle | undefined;
  private size = 0;
  private chain: Promise<void> = Promise.resolve();
  private shutDown = false;

  constructor(settings: CreateSettings, config: FileExporterConfig) {
    this.settings = settings;
    this.config = config;
    this.path = isAbsolute(config.path) ? config.path : join(settings.dataDir, config.path);
  }

  async start(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await this.openFile();
  }

  private async openFile(): Promise<void> {
    // 0640: a log shipper's group may read what Vigil writes, nobody else.
    this.handle = await open(this.path, 'a', 0o640);
    this.size = (await stat(this.path)).size;
  }

  consumeLogs = (batch: unknown[]) => this.write('logs', batch);
  consumeMetrics = (batch: unknown[]) => this.write('metrics', batch);
  consumeTraces = (batch: unknown[]) => this.write('traces', batch);
  consumeIncidents = (batch: unknown[]) => this.write('incidents', batch);

  private write(signal: Signal, batch: unknown[]): Promise<void> {
    // Batches from several pipelines may arrive at once; serialise so lines never interleave.
    const next = this.chain.then(() => this.writeNow(signal, batch));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async writeNow(signal: Signal, batch: unknown[]): Promise<void> {
    if (this.shutDown) throw new ComponentShutDownError('exporter', this.settings.id);
    // One flat string joined from the lines, encoded once: appending line by line built a rope
    // of two pieces a record that the encoder then had to flatten.
    const lines: string[] = new Array<string>(batch.length + 1);
    if (signal === 'logs') for (let i = 0; i < batch.length; i++) lines[i] = eventToJson(batch[i] as VigilEvent);
    else for (let i = 0; i < batch.length; i++) lines[i] = toJson(batch[i] as object);
    lines[batch.length] = '';
    const buf = Buffer.from(lines.join('\n'), 'utf8');
    const maxBytes = this.config.rotation.max_megabytes * 1024 * 1024;
    if (maxBytes > 0 && this.size > 0 && this.size + buf.length > maxBytes) await this.rotate();
    await this.handle!.write(buf);
    if (this.config.fsync) await this.handle!.sync();
    this.size += buf.length;
  }

  private async rotate(): Promise<void> {
    await this.handle!.close();
    const keep = this.config.rotation.max_backups;
    if (keep === 0) await rm(this.path, { force: true });
    else {
      await rm(`${this.path}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--)
        await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch(() => undefined);
      await rename(this.path, `${this.path}.1`);
    }
    await this.openFile();
  }

  async shutdown(): Promise<void> {
    // What was handed over before this call is written; anything later is refused.
    await this.chain;
    this.shutDown = true;
    await this.handle?.sync().catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }
}
