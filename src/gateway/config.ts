import { z } from 'zod';
import { ConfigError } from '../config';
import { DEFAULT_RAMP, type Ramp } from './live';
import type { UpstreamsConfig } from './upstream';

/**
 * The gateway's settings, from the environment (the rest — database, blob store, embeddings, HMAC key — is the
 * project's own configuration, src/config.ts). Each bad variable is named with its fix.
 */
const url = z.url('must be an http(s) URL ending in /v1, e.g. http://127.0.0.1:8000/v1');
const share = z.coerce.number().min(0, 'must be from 0 to 1').max(1, 'must be from 0 to 1');

const schema = z.object({
  GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8788),
  GATEWAY_FRONTIER_URL: url.optional(),
  GATEWAY_FRONTIER_API_KEY: z.string().optional(),
  GATEWAY_CHEAP_URL: url.optional(),
  GATEWAY_CHEAP_API_KEY: z.string().optional(),
  GATEWAY_ADAPTER_URL: url.optional(),
  GATEWAY_ADAPTER_API_KEY: z.string().optional(),
  GATEWAY_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  GATEWAY_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  GATEWAY_MANIFEST_SOURCE: z.string().min(1).default('blob:manifests/{tenant}/current.json'),
  GATEWAY_REFRESH_MS: z.coerce.number().int().min(0).default(15_000),
  GATEWAY_SHADOW_RATE: share.default(0.02),
  GATEWAY_RAMP: z
    .string()
    .regex(/^\s*(0|1|0?\.\d+)(\s*,\s*(0|1|0?\.\d+))*\s*$/, 'comma-separated shares from 0 to 1, ending in 1, e.g. 0.1,0.5,1')
    .refine((v) => Number(v.split(',').at(-1)) === 1, 'the last share must be 1 (a ramp ends serving the whole route)')
    .optional(),
  GATEWAY_RAMP_JUDGED: z.coerce.number().int().min(0).default(DEFAULT_RAMP.judgedPerStep),
  GATEWAY_LADDER_SYSTEM: z.enum(['allow', 'deny']).default('allow'),
  GATEWAY_RATE_LIMIT: z.coerce.number().int().min(0).default(0),
  GATEWAY_TOKEN_BUDGET: z.coerce.number().int().min(0).default(0),
  GATEWAY_EMBED_CACHE: z.coerce.number().int().min(0).default(10_000),
});

export interface GatewayConfig {
  host: string;
  port: number;
  upstreams: UpstreamsConfig;
  manifestSource: string;
  refreshMs: number;
  shadowRate: number;
  ramp: Ramp;
  allowSystem: boolean;
  limits: { requestsPerMinute: number; tokensPerDay: number };
  embedCacheSize: number;
}

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const raw = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('GATEWAY_') && v !== undefined && v !== ''));
  const p = schema.safeParse(raw);
  if (!p.success) {
    const lines = p.error.issues.map((i) => `  ${String(i.path[0])}: ${i.message} (got ${JSON.stringify(raw[String(i.path[0])])})`);
    throw new ConfigError(`invalid gateway configuration; fix these environment variables:\n${lines.join('\n')}`);
  }
  const e = p.data;
  if (!e.GATEWAY_FRONTIER_URL)
    throw new ConfigError('invalid gateway configuration: set GATEWAY_FRONTIER_URL, the teacher (OpenAI-compatible, e.g. https://api.openai.com/v1)');
  return {
    host: e.GATEWAY_HOST,
    port: e.GATEWAY_PORT,
    upstreams: {
      frontier: { baseURL: e.GATEWAY_FRONTIER_URL, apiKey: e.GATEWAY_FRONTIER_API_KEY },
      ...(e.GATEWAY_CHEAP_URL ? { cheap: { baseURL: e.GATEWAY_CHEAP_URL, apiKey: e.GATEWAY_CHEAP_API_KEY } } : {}),
      ...(e.GATEWAY_ADAPTER_URL ? { adapter: { baseURL: e.GATEWAY_ADAPTER_URL, apiKey: e.GATEWAY_ADAPTER_API_KEY } } : {}),
      timeoutMs: e.GATEWAY_TIMEOUT_MS,
      retries: e.GATEWAY_RETRIES,
    },
    manifestSource: e.GATEWAY_MANIFEST_SOURCE,
    refreshMs: e.GATEWAY_REFRESH_MS,
    shadowRate: e.GATEWAY_SHADOW_RATE,
    ramp: { shares: e.GATEWAY_RAMP ? e.GATEWAY_RAMP.split(',').map(Number) : DEFAULT_RAMP.shares, judgedPerStep: e.GATEWAY_RAMP_JUDGED },
    allowSystem: e.GATEWAY_LADDER_SYSTEM === 'allow',
    limits: { requestsPerMinute: e.GATEWAY_RATE_LIMIT, tokensPerDay: e.GATEWAY_TOKEN_BUDGET },
    embedCacheSize: e.GATEWAY_EMBED_CACHE,
  };
}
