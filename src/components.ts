import type { FactoryRegistry } from './service/config/load.ts';
import { correlationConnectorFactory } from './connectors/correlation/connector.ts';
import { clickhouseExporterFactory } from './exporters/clickhouse/factory.ts';
import { debugExporterFactory } from './exporters/debug/exporter.ts';
import { emailExporterFactory } from './exporters/email/factory.ts';
import { fileExporterFactory } from './exporters/file/factory.ts';
import { glpiExporterFactory } from './exporters/glpi/factory.ts';
import { jiraExporterFactory } from './exporters/jira/factory.ts';
import { otlpGrpcExporterFactory, otlpHttpExporterFactory } from './exporters/otlp/factory.ts';
import { serviceNowExporterFactory } from './exporters/servicenow/factory.ts';
import { smsExporterFactory } from './exporters/sms/factory.ts';
import { webhookExporterFactory } from './exporters/webhook/factory.ts';
import { authenticatorExtensionFactory } from './extensions/auth/factory.ts';
import { redisStateExtensionFactory } from './extensions/redisState/factory.ts';
import { ticketLedgerExtensionFactory } from './extensions/ticketLedger/factory.ts';
import type {
  ConnectorFactory,
  ExporterFactory,
  ExtensionFactory,
  ProcessorFactory,
  ReceiverFactory,
} from './pipeline/component.ts';
import { enrichProcessorFactory } from './processors/enrich/factory.ts';
import { extractProcessorFactory } from './processors/extract/factory.ts';
import { filterProcessorFactory } from './processors/filter/factory.ts';
import { tagProcessorFactory } from './processors/tag/factory.ts';
import { alertmanagerReceiverFactory } from './receivers/alertmanager/factory.ts';
import { jsonReceiverFactory } from './receivers/json/factory.ts';
import { otlpReceiverFactory } from './receivers/otlp/factory.ts';
import { snmpTrapReceiverFactory } from './receivers/snmp/factory.ts';
import { syslogReceiverFactory } from './receivers/syslog/factory.ts';

/** Every component Vigil knows, by kind. A new component is one line here. */
export const receiverFactories: ReceiverFactory[] = [
  jsonReceiverFactory as ReceiverFactory,
  syslogReceiverFactory as ReceiverFactory,
  otlpReceiverFactory as ReceiverFactory,
  alertmanagerReceiverFactory as ReceiverFactory,
  snmpTrapReceiverFactory as ReceiverFactory,
];
export const processorFactories: ProcessorFactory[] = [
  extractProcessorFactory as ProcessorFactory,
  enrichProcessorFactory as ProcessorFactory,
  tagProcessorFactory as ProcessorFactory,
  filterProcessorFactory as ProcessorFactory,
];
export const exporterFactories: ExporterFactory[] = [
  fileExporterFactory as ExporterFactory,
  debugExporterFactory as ExporterFactory,
  glpiExporterFactory as ExporterFactory,
  jiraExporterFactory as ExporterFactory,
  webhookExporterFactory as ExporterFactory,
  serviceNowExporterFactory as ExporterFactory,
  emailExporterFactory as ExporterFactory,
  smsExporterFactory as ExporterFactory,
  clickhouseExporterFactory as ExporterFactory,
  otlpGrpcExporterFactory as ExporterFactory,
  otlpHttpExporterFactory as ExporterFactory,
];
export const connectorFactories: ConnectorFactory[] = [correlationConnectorFactory as ConnectorFactory];

export const extensionFactories: ExtensionFactory[] = [
  authenticatorExtensionFactory as ExtensionFactory,
  redisStateExtensionFactory as ExtensionFactory,
  ticketLedgerExtensionFactory as ExtensionFactory,
];

export const registry: FactoryRegistry = {
  receivers: receiverFactories,
  processors: processorFactories,
  exporters: exporterFactories,
  connectors: connectorFactories,
  extensions: extensionFactories,
};
