/** The typed placeholders that masking puts in place of volatile values (see normalize.ts). */
export const SLOT_TYPES = ['email', 'url', 'phone', 'card', 'iban', 'id', 'money', 'date', 'time', 'percent', 'number', 'name'] as const;
export type SlotType = (typeof SLOT_TYPES)[number];

export function placeholder(type: SlotType): string {
  return `<${type}>`;
}

/** Any placeholder, as regex source. */
export const PLACEHOLDER_SRC = `<(?:${SLOT_TYPES.join('|')})>`;
