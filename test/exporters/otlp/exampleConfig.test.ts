import { describe, expect, it } from 'vitest';
import { runCli } from '../../support/daemon.ts';

describe('config/examples/agent-gateway.yaml', () => {
  it('is a valid config using every otlp_grpc and otlp_http key', async () => {
    const res = await runCli(['validate', '--config', 'config/examples/agent-gateway.yaml'], {
      GATEWAY_TOKEN: 'token',
    });
    expect(res.stdout + res.stderr).toContain('configuration is valid');
    expect(res.code).toBe(0);
  });
});
