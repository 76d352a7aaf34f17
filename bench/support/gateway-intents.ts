import { normalizeQuery } from '../../src/serving/normalize';
import { renderAnswer } from '../../src/serving/render';
import { namedSlots } from '../../src/serving/slots';

/** The gateway benchmark's graduated intents (query, template), shared by the benchmark and its fake upstream. */
export const INTENTS = [
  ['where is my order 48213', 'Order {{id}} ships tomorrow.'],
  ['how do i reset my password', 'Open Settings, then Security, then Reset password.'],
  ['can i change the delivery address for order 55120', 'Yes: open order {{id}} and choose Change address.'],
  ['what are your opening hours', 'We are open 9:00 to 17:00, Monday to Friday.'],
  ['how do i cancel my subscription', 'Open Settings, then Plans, then Cancel.'],
  ['do you ship to canada', 'Yes, we ship to Canada in 5 to 7 days.'],
  ['i was charged twice for order 99812', 'We refunded the second charge on order {{id}}.'],
  ['how can i contact customer support', 'Write to support@example.com or call 0800 123 456.'],
] as const;

/** The teacher's answer: it agrees with the templates (shadow checks then judge agreement and demote nothing). */
export function teacherAnswer(): (q: string) => string {
  const byText = new Map<string, string>(INTENTS.map(([q, template]) => [normalizeQuery(q).text, template]));
  return (q) => {
    const n = normalizeQuery(q);
    const template = byText.get(n.text);
    return template ? renderAnswer(template, { query: q, slots: namedSlots(n.slots) }) : `upstream answers: ${q}`;
  };
}
