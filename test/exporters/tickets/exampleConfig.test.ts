import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';

describe('config/examples/tickets.yaml', () => {
  it('is a valid config wiring every incident exporter', () => {
    const cfg = parseConfig(readFileSync('config/examples/tickets.yaml', 'utf8'), registry, {
      GLPI_APP_TOKEN: 'a',
      GLPI_USER_TOKEN: 'b',
      JIRA_API_TOKEN: 'c',
      SN_CLIENT_SECRET: 'd',
    });
    expect(
      Object.values(cfg.exporters)
        .map((e) => e.type)
        .sort(),
    ).toEqual(['email', 'glpi', 'jira', 'servicenow', 'servicenow', 'sms', 'sms', 'webhook', 'webhook', 'webhook']);
    expect(cfg.service.pipelines.incidents!.exporters).toHaveLength(10);
    for (const id of ['glpi', 'servicenow'])
      expect(cfg.exporters[id]!.config, id).toMatchObject({ sync: { mode: 'poll' } });
  });
});
