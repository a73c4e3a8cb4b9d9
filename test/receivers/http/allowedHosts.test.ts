import { describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { defaultAllowedHosts, hostMatcher } from '../../../src/receivers/http/allowedHosts.ts';

describe('allowed_hosts matching', () => {
  it('matches a name on any port, a name:port on that port only, subdomains of *. and IPv6 in brackets', () => {
    const allows = hostMatcher(['vigil.example.com', 'collector:4318', '*.corp.example', '[fd00::1]'])!;
    expect(allows('vigil.example.com')).toBe(true);
    expect(allows('VIGIL.example.com.:8080')).toBe(true);
    expect(allows('collector:4318')).toBe(true);
    expect(allows('collector:4319')).toBe(false);
    expect(allows('collector')).toBe(false);
    expect(allows('a.b.corp.example:443')).toBe(true);
    expect(allows('corp.example')).toBe(false);
    expect(allows('evilcorp.example')).toBe(false);
    expect(allows('[fd00::1]:4318')).toBe(true);
    expect(allows('[fd00::2]:4318')).toBe(false);
    expect(allows('vigil.example.com.attacker.example')).toBe(false);
    expect(allows(undefined)).toBe(false);
    expect(allows('')).toBe(false);
  });

  it('defaults to the loopback names on a loopback address and to every host elsewhere', () => {
    expect(defaultAllowedHosts({ host: '127.0.0.1', port: 8080 })).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(defaultAllowedHosts({ host: '127.0.0.5', port: 8080 })).toEqual([
      'localhost',
      '127.0.0.1',
      '[::1]',
      '127.0.0.5',
    ]);
    expect(defaultAllowedHosts({ host: '::1', port: 8080 })).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(defaultAllowedHosts({ host: '0.0.0.0', port: 8080 })).toBeUndefined();
    expect(defaultAllowedHosts({ host: '10.1.2.3', port: 8080 })).toBeUndefined();
    expect(hostMatcher(['*'])).toBeUndefined();
  });

  it('refuses at load an entry that is not a host, naming its path', () => {
    const config = (allowed: string) => `
receivers: { json: { endpoint: 127.0.0.1:0, allowed_hosts: [${allowed}] } }
exporters: { debug: {} }
service:
  pipelines: { logs: { receivers: [json], exporters: [debug] } }
  telemetry: { metrics: { allowed_hosts: ['vigil.example.com:8080'] } }
`;
    expect(parseConfig(config('vigil.example.com'), registry).receivers.json!.config).toMatchObject({
      allowed_hosts: ['vigil.example.com'],
    });
    expect(() => parseConfig(config("'http://vigil.example.com/'"), registry)).toThrow(
      /receivers\.json\.allowed_hosts\[0\]: must be a host name or address/,
    );
  });
});
