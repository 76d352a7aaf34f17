import Handlebars from 'handlebars';
import { InputError } from '../errors';
import { type ScriptSpec, runScript } from './script';

/**
 * Templates are Handlebars in strict mode without HTML escaping: answers are plain text, and a slot with no value
 * is an error (the router falls back to the model) rather than an empty hole in an answer someone reads.
 */
const hb = Handlebars.create();
const cache = new Map<string, HandlebarsTemplateDelegate>();

export class RenderError extends Error {
  override readonly name = 'RenderError';
}

/** Compiles a template or throws an InputError on field `template` that says what is wrong and where. */
export function compileTemplate(template: string): HandlebarsTemplateDelegate {
  const hit = cache.get(template);
  if (hit) return hit;
  let fn: HandlebarsTemplateDelegate;
  try {
    fn = hb.compile(template, { strict: true, noEscape: true, knownHelpersOnly: true, knownHelpers: {} });
    // Handlebars compiles lazily: force parsing now so a broken template fails at review time, not at serving time.
    hb.precompile(template, { strict: true, knownHelpersOnly: true, knownHelpers: {} });
  } catch (err) {
    throw new InputError('template', `does not compile: ${firstLine(err)}. Literal braces must be escaped as \\{{`);
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(template, fn);
  return fn;
}

/** The slot names a template refers to (`{{id}}`, `{{email_2}}`), in order of first use. */
export function templateSlots(template: string): string[] {
  const ast = hb.parse(template);
  const names: string[] = [];
  const walk = (node: hbs.AST.Node): void => {
    if (node.type === 'MustacheStatement') {
      const path = (node as hbs.AST.MustacheStatement).path;
      if (path.type === 'PathExpression') {
        const name = (path as hbs.AST.PathExpression).original;
        if (!names.includes(name)) names.push(name);
      }
    }
    const body = (node as { body?: hbs.AST.Node[] }).body;
    if (Array.isArray(body)) body.forEach(walk);
    const program = (node as { program?: hbs.AST.Program }).program;
    if (program) walk(program);
  };
  try {
    walk(ast);
  } catch {
    // Unparseable templates are reported by compileTemplate.
  }
  return names;
}

/**
 * Renders a candidate for one query: the script (if any) derives extra values from the query and its slots, then
 * the template fills them in. Throws RenderError naming the missing slot when a value is absent.
 */
export function renderAnswer(template: string, input: { query: string; slots: Record<string, string> }, script?: ScriptSpec | null): string {
  const fn = compileTemplate(template);
  const values = script ? { ...input.slots, ...runScript(script, input) } : input.slots;
  try {
    return fn(values);
  } catch (err) {
    throw new RenderError(`cannot render: ${firstLine(err)}`);
  }
}

/**
 * Literal answer text as template source: Handlebars would read `{{…}}` in an answer as an expression, so it becomes
 * `\{{`. A literal backslash right before `{{` cannot simply be doubled (`\\\{{` lexes as literal backslashes and a
 * live mustache), so it is written as `\\` closed by an empty comment `{{!}}`, then the escaped braces.
 */
export function escapeLiteral(text: string): string {
  return text.replace(/(\\?)\{\{/g, (_, backslash: string) => (backslash ? '\\\\{{!}}\\{{' : '\\{{'));
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
}
