import { bool, int, literalUnion, obj, str, type Infer } from '../../config/schema.ts';

export const fileExporterSchema = obj({
  path: str({
    nonEmpty: true,
    doc: 'File to append NDJSON to, one record per line. Relative paths are under the data dir.',
  }),
  rotation: obj({
    max_megabytes: int({
      default: 100,
      min: 0,
      doc: 'Rotate when the file would grow past this size; 0 never rotates.',
    }),
    max_backups: int({ default: 5, min: 0, doc: 'Rotated files kept (`path.1` newest … `path.N`).' }),
  }),
  fsync: bool({ default: false, doc: 'fsync after every batch: survives power loss, costs throughput.' }),
  format: literalUnion(['json'], { default: 'json', doc: 'Line format.' }),
});

export type FileExporterConfig = Infer<typeof fileExporterSchema>;
