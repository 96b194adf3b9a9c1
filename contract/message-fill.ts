// A message's `{name}` placeholders filled from `vars`; one unknown stays visible as it
// is. Its own module so that a part of the catalogue can be used without loading all of
// it (the agent's hardware verdicts: agent/domain/hardware-verdicts.ts).
export function fill(template: string, vars: Readonly<Record<string, string | number>> = {}): string {
  return template.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}
