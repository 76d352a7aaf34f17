/**
 * The gateway's Prometheus metrics, kept in memory and written in the text exposition format (version 0.0.4) by
 * hand: requests by tier and outcome, latency histograms per tier, shadow judgements and live agreement per route,
 * demotions.
 */

const BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

class Histogram {
  readonly counts = new Array<number>(BUCKETS_MS.length).fill(0);
  sum = 0;
  count = 0;
  observe(ms: number): void {
    for (let i = 0; i < BUCKETS_MS.length; i++) if (ms <= BUCKETS_MS[i]!) this.counts[i]!++;
    this.sum += ms / 1000;
    this.count++;
  }
}

export class GatewayMetrics {
  private readonly requests = new Map<string, { l: Record<string, string>; n: number }>();
  private readonly latency = new Map<string, Histogram>();
  private readonly shadow = new Map<string, { l: Record<string, string>; n: number }>();
  private readonly agreement = new Map<string, { l: Record<string, string>; v: number; upper: number }>();
  private readonly demotions = new Map<string, { l: Record<string, string>; n: number }>();
  private readonly skipped = new Map<string, number>();

  /** A sampled request not shadowed because enough checks were in flight. */
  shadowSkipped(tenant: string): void {
    this.skipped.set(tenant, (this.skipped.get(tenant) ?? 0) + 1);
  }

  request(tenant: string, tier: string, status: number, ms: number): void {
    const l = { tenant, tier, status: String(status) };
    const k = JSON.stringify(l);
    const e = this.requests.get(k);
    if (e) e.n++;
    else this.requests.set(k, { l, n: 1 });
    let h = this.latency.get(tier);
    if (!h) this.latency.set(tier, (h = new Histogram()));
    h.observe(ms);
  }

  judged(tenant: string, route: string, verdict: 'agree' | 'disagree', agreement: number, upperBound: number): void {
    const l = { tenant, route, verdict };
    const k = JSON.stringify(l);
    const e = this.shadow.get(k);
    if (e) e.n++;
    else this.shadow.set(k, { l, n: 1 });
    this.agreement.set(`${tenant}\u0000${route}`, { l: { tenant, route }, v: agreement, upper: upperBound });
  }

  demoted(tenant: string, route: string): void {
    const k = `${tenant}\u0000${route}`;
    const e = this.demotions.get(k);
    if (e) e.n++;
    else this.demotions.set(k, { l: { tenant, route }, n: 1 });
  }

  text(): string {
    const out: string[] = [];
    out.push('# HELP distillery_gateway_requests_total Chat completion requests by tenant, serving tier and HTTP status.');
    out.push('# TYPE distillery_gateway_requests_total counter');
    for (const { l, n } of this.requests.values()) out.push(`distillery_gateway_requests_total${labels(l)} ${n}`);
    out.push('# HELP distillery_gateway_request_duration_seconds Time to the full answer, by serving tier.');
    out.push('# TYPE distillery_gateway_request_duration_seconds histogram');
    for (const [tier, h] of this.latency) {
      BUCKETS_MS.forEach((b, i) => out.push(`distillery_gateway_request_duration_seconds_bucket${labels({ tier, le: String(b / 1000) })} ${h.counts[i]}`));
      out.push(`distillery_gateway_request_duration_seconds_bucket${labels({ tier, le: '+Inf' })} ${h.count}`);
      out.push(`distillery_gateway_request_duration_seconds_sum${labels({ tier })} ${h.sum}`);
      out.push(`distillery_gateway_request_duration_seconds_count${labels({ tier })} ${h.count}`);
    }
    out.push('# HELP distillery_gateway_shadow_judgements_total Shadow checks judged, by route and verdict.');
    out.push('# TYPE distillery_gateway_shadow_judgements_total counter');
    for (const { l, n } of this.shadow.values()) out.push(`distillery_gateway_shadow_judgements_total${labels(l)} ${n}`);
    out.push('# HELP distillery_gateway_shadow_skipped_total Sampled requests not shadowed (too many checks in flight).');
    out.push('# TYPE distillery_gateway_shadow_skipped_total counter');
    for (const [tenant, n] of this.skipped) out.push(`distillery_gateway_shadow_skipped_total${labels({ tenant })} ${n}`);
    out.push('# HELP distillery_gateway_shadow_agreement Live agreement with the teacher of the route entry in service.');
    out.push('# TYPE distillery_gateway_shadow_agreement gauge');
    for (const { l, v } of this.agreement.values()) out.push(`distillery_gateway_shadow_agreement${labels(l)} ${v}`);
    out.push('# HELP distillery_gateway_shadow_error_upper_bound Upper confidence bound of the live error rate (the budget method).');
    out.push('# TYPE distillery_gateway_shadow_error_upper_bound gauge');
    for (const { l, upper } of this.agreement.values()) out.push(`distillery_gateway_shadow_error_upper_bound${labels(l)} ${upper}`);
    out.push('# HELP distillery_gateway_demotions_total Routes demoted to the frontier by shadow checks.');
    out.push('# TYPE distillery_gateway_demotions_total counter');
    for (const { l, n } of this.demotions.values()) out.push(`distillery_gateway_demotions_total${labels(l)} ${n}`);
    return out.join('\n') + '\n';
  }
}
