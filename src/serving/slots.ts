import { type Slot, normalizeQuery } from './normalize';

/**
 * Slot names a template refers to: the masked value's type, numbered from the second one of a type on
 * (`id`, `id_2`, `email`). Names come from the masking (normalize.ts), so the same query always binds the same way.
 */
export function namedSlots(slots: ReadonlyArray<Slot>): Record<string, string> {
  const seen = new Map<string, number>();
  const out: Record<string, string> = {};
  for (const s of slots) {
    const n = (seen.get(s.type) ?? 0) + 1;
    seen.set(s.type, n);
    out[n === 1 ? s.type : `${s.type}_${n}`] = s.value;
  }
  return out;
}

/** The slot values of a raw query, named as templates refer to them. */
export function slotsOfQuery(query: string): Record<string, string> {
  return namedSlots(normalizeQuery(query).slots);
}
