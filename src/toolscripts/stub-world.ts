import { createHash } from 'node:crypto';
import type { ToolRegistry } from '../serving/toolscript';
import type { TraceCall } from './trace';

/**
 * A stub order system for tests, the demo and the benchmark: deterministic tools (lookup_order, get_shipment,
 * cancel_order) over orders derived from their number, and the teacher agent's policy over them (which tools it
 * calls and what it answers). Real queries come from the shared data sets; only the tool results are stubbed.
 */

const pick = <T>(xs: readonly T[], seed: string, salt: string): T => xs[createHash('sha256').update(`${salt}:${seed}`).digest().readUInt32BE(0) % xs.length]!;

export const ORDER_TOOLS = [
  fn('lookup_order', 'Look up an order by its number', { order_id: { type: 'string' } }),
  fn('get_shipment', 'Shipment of a tracking number', { tracking_number: { type: 'string' } }),
  fn('cancel_order', 'Cancel an order', { order_id: { type: 'string' }, reason: { type: 'string' } }),
];

function fn(name: string, description: string, properties: Record<string, unknown>) {
  return { type: 'function', function: { name, description, parameters: { type: 'object', properties, required: Object.keys(properties) } } };
}

export interface StubOrder {
  order_id: string;
  status: 'shipped' | 'processing' | 'delivered';
  tracking_number: string;
  total: number;
}

export function order(id: string, statuses: ReadonlyArray<StubOrder['status']> = ['shipped', 'processing', 'delivered']): StubOrder {
  const digits = createHash('sha256').update(`t:${id}`).digest().readUInt32BE(0).toString().padStart(10, '0');
  return { order_id: id, status: pick(statuses, id, 's'), tracking_number: `1Z${digits}`, total: 10 + (Number(digits.slice(-4)) % 190) };
}

export function shipment(tracking: string) {
  return { tracking_number: tracking, carrier: pick(['UPS', 'DHL', 'FedEx'], tracking, 'c'), eta: `2026-12-${pick(['03', '05', '08', '11'], tracking, 'e')}` };
}

/** The tools as an application registers them with the router client. */
export function stubTools(statuses?: ReadonlyArray<StubOrder['status']>): ToolRegistry {
  return {
    lookup_order: ({ order_id }) => order(String(order_id), statuses),
    get_shipment: ({ tracking_number }) => shipment(String(tracking_number)),
    cancel_order: ({ order_id }) => ({ order_id: String(order_id), cancelled: true, refund: order(String(order_id), statuses).total }),
  };
}

/** What the teacher agent does for an intent and order number: its tool calls (with results) and its answer. */
export function teacherLoop(intent: 'track' | 'cancel', id: string, statuses?: ReadonlyArray<StubOrder['status']>): { calls: TraceCall[]; answer: string } {
  const o = order(id, statuses);
  const lookup: TraceCall = { tool: 'lookup_order', args: { order_id: id }, result: o };
  if (intent === 'cancel') {
    const c = { order_id: id, cancelled: true, refund: o.total };
    return {
      calls: [lookup, { tool: 'cancel_order', args: { order_id: id, reason: 'customer request' }, result: c }],
      answer: `Order ${id} is cancelled. ${o.total} USD will be refunded to your original payment method.`,
    };
  }
  if (o.status === 'shipped') {
    const s = shipment(o.tracking_number);
    return {
      calls: [lookup, { tool: 'get_shipment', args: { tracking_number: o.tracking_number }, result: s }],
      answer: `Your order ${id} has shipped with ${s.carrier} and should arrive on ${s.eta}.`,
    };
  }
  if (o.status === 'processing') return { calls: [lookup], answer: `Your order ${id} is being prepared and has not shipped yet.` };
  return { calls: [lookup], answer: `Good news: your order ${id} was delivered. Tracking number ${o.tracking_number}.` };
}
