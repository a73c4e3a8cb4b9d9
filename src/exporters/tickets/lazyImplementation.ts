import { lazyModule, type LazyModule } from '../../pipeline/lazyModule.ts';
import type * as IncidentExporterModule from './incidentExporter.ts';

/**
 * A ticket exporter's code, loaded when a config uses it: the incident exporter (outbox,
 * ledger, routing) with the driver's own modules (nodemailer for email, and so on).
 */
export function ticketExporterImplementation<D extends object>(
  type: string,
  driver: () => Promise<D>,
): LazyModule<typeof IncidentExporterModule & D> {
  return lazyModule(`the ${type} exporter`, async () => ({
    ...(await import('./incidentExporter.ts')),
    ...(await driver()),
  }));
}
