// The shape every config-file parser produces: nested maps of strings, as viper sees a file after reading it.

/**
 * A config file value: a scalar already turned into the string Go would print (`true`, `32`, `0.5`), null for an
 * explicit null (counts as absent), a nested map, or a list (lists carry no setting value; only their presence counts).
 */
export type ConfigValue = string | null | ConfigMap | ConfigList;
export type ConfigMap = Map<string, ConfigValue>;
export type ConfigList = readonly ConfigValue[];

export function isConfigMap(value: ConfigValue | undefined): value is ConfigMap {
  return value instanceof Map;
}

/** A problem in a config file's syntax; the message is shown after `While parsing config: `. */
export class ConfigSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigSyntaxError';
  }
}

/**
 * Lower-cases keys at every level and turns dotted keys into nesting, which is how viper stores and lists a file:
 * lookups are case-insensitive and `a.b = 1` is the key `b` inside `a`.
 */
export function normalizeConfigMap(source: ConfigMap): ConfigMap {
  const result: ConfigMap = new Map();
  for (const [key, value] of source) {
    const normalizedValue = isConfigMap(value) ? normalizeConfigMap(value) : value;
    const path = key.toLowerCase().split('.');
    let target = result;
    for (let index = 0; index < path.length - 1; index++) {
      const existing = target.get(path[index]);
      if (isConfigMap(existing)) {
        target = existing;
      } else {
        const created: ConfigMap = new Map();
        target.set(path[index], created);
        target = created;
      }
    }
    const last = path[path.length - 1];
    const existing = target.get(last);
    if (isConfigMap(existing) && isConfigMap(normalizedValue)) {
      for (const [innerKey, innerValue] of normalizedValue) existing.set(innerKey, innerValue);
    } else {
      target.set(last, normalizedValue);
    }
  }
  return result;
}

/** The string a value reads as through viper's GetString: maps and lists read as empty (cast cannot print them). */
export function configValueAsString(value: ConfigValue): string {
  return typeof value === 'string' ? value : '';
}

/** Whether a file value would appear in viper's AllSettings: null leaves and empty maps do not. */
export function configValueIsPresent(value: ConfigValue): boolean {
  if (value === null) return false;
  if (isConfigMap(value)) {
    for (const inner of value.values()) if (configValueIsPresent(inner)) return true;
    return false;
  }
  return true;
}
