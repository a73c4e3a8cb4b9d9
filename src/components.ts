import type { FactoryRegistry } from './config/load.ts';
import { debugExporterFactory } from './exporters/debug/exporter.ts';
import { fileExporterFactory } from './exporters/file/factory.ts';
import type { ExporterFactory, ProcessorFactory, ReceiverFactory } from './pipeline/component.ts';
import { jsonReceiverFactory } from './receivers/json/factory.ts';
import { syslogReceiverFactory } from './receivers/syslog/factory.ts';

/** Every component Vigil knows, by kind. A new component is one line here. */
export const receiverFactories: ReceiverFactory[] = [jsonReceiverFactory as ReceiverFactory, syslogReceiverFactory as ReceiverFactory];
export const processorFactories: ProcessorFactory[] = [];
export const exporterFactories: ExporterFactory[] = [fileExporterFactory as ExporterFactory, debugExporterFactory as ExporterFactory];

export const registry: FactoryRegistry = {
  receivers: receiverFactories,
  processors: processorFactories,
  exporters: exporterFactories,
};
