import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** Each service's published ports, read line by line (the file's own layout: two-space services, `- "…"` items). */
function publishedPorts(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let service = '';
  let inPorts = false;
  for (const line of text.split('\n')) {
    const svc = /^ {2}([a-z][\w-]*):\s*$/.exec(line);
    if (svc) {
      service = svc[1]!;
      inPorts = false;
      continue;
    }
    if (/^ {4}ports:\s*$/.test(line)) {
      inPorts = true;
      continue;
    }
    const item = /^ {6}- "([^"]+)"/.exec(line);
    if (inPorts && item) (out[service] ??= []).push(item[1]!);
    else if (inPorts && !/^\s*(#.*)?$/.test(line)) inPorts = false;
  }
  return out;
}

describe('docker-compose.yml', () => {
  it('publishes only the authenticated api and gateway beyond localhost: admin UIs and infrastructure bind 127.0.0.1', () => {
    const ports = publishedPorts(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'));
    expect(Object.keys(ports).sort()).toEqual(['api', 'gateway', 'minio', 'postgres', 'temporal', 'temporal-ui']);
    for (const [service, list] of Object.entries(ports)) {
      if (service === 'api' || service === 'gateway') continue;
      for (const p of list) expect(p, service).toMatch(/^127\.0\.0\.1:/);
    }
  });
});
