export * from './attributes.ts';
export * from './event.ts';
export * from './incident.ts';
export * from './metric.ts';
export * from './severity.ts';
export * from './span.ts';
