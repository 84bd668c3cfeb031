// Finds and reads the WAL-G config file (`--config <path>` or `~/.walg.<ext>`) the way viper does: format from the
// extension, keys case-insensitive, scalars as strings, and viper's error texts for the warning.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ConfigMap, type ConfigValue, ConfigSyntaxError, normalizeConfigMap } from './config-values.ts';
import { formatGoFloat } from './go-values.ts';
import { parseDotenv, parseHcl, parseIni, parseProperties } from './line-formats.ts';
import { parseToml } from './toml-subset.ts';
import { parseYaml } from './yaml-subset.ts';

/** viper's extension order: the first `~/.walg.<ext>` that exists is used. */
export const CONFIG_FILE_TYPES: readonly string[] = [
  'json', 'toml', 'yaml', 'yml', 'properties', 'props', 'prop', 'hcl', 'dotenv', 'env', 'ini',
];

const CONFIG_FILE_BASE_NAME = '.walg';

/** The failure behind `Failed to parse config file <path>. <message>.`; the message never quotes file content. */
export class ConfigFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigFileError';
  }
}

/** Go's filepath.Ext: from the last dot of the last path element (so `.walg` alone has the extension `.walg`). */
export function goFileExtension(path: string): string {
  for (let index = path.length - 1; index >= 0 && path[index] !== '/'; index--) {
    if (path[index] === '.') return path.slice(index);
  }
  return '';
}

/** `~/.walg.json`, `~/.walg.toml`, … in viper's order; undefined when none exists (directories do not count). */
export function findHomeConfigFile(homeDirectory: string): string | undefined {
  for (const type of CONFIG_FILE_TYPES) {
    const candidate = join(homeDirectory, `${CONFIG_FILE_BASE_NAME}.${type}`);
    try {
      const stats = statSync(candidate, { throwIfNoEntry: false });
      if (stats !== undefined && !stats.isDirectory()) return candidate;
    } catch {
      // viper ignores errors other than "does not exist" too and moves on to the next extension
    }
  }
  return undefined;
}

const GO_ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

function readFailure(path: string, error: unknown): ConfigFileError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  // Go can open a directory and fails on the read, so that error names the read.
  if (code === 'EISDIR') return new ConfigFileError(`read ${path}: is a directory`, { cause: error });
  const text = GO_ERRNO_TEXT[code] ?? (error instanceof Error ? error.message : String(error));
  return new ConfigFileError(`open ${path}: ${text}`, { cause: error });
}

/**
 * Reads and parses one config file. The format comes from the extension (case-sensitive, as in viper); `env` feeds
 * `${VAR}` expansion in properties and dotenv files. Throws ConfigFileError with viper's message.
 */
export function readConfigFile(path: string, env: Readonly<Record<string, string | undefined>>): ConfigMap {
  const extension = goFileExtension(path);
  const type = extension.length > 1 ? extension.slice(1) : '';
  if (!CONFIG_FILE_TYPES.includes(type)) throw new ConfigFileError(`Unsupported Config Type ${JSON.stringify(type)}`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw readFailure(path, error);
  }
  try {
    return normalizeConfigMap(parseConfigText(text, type, env));
  } catch (error) {
    if (error instanceof ConfigSyntaxError) throw new ConfigFileError(`While parsing config: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Parses config text of one of CONFIG_FILE_TYPES into raw (not yet lower-cased) maps. */
export function parseConfigText(text: string, type: string, env: Readonly<Record<string, string | undefined>>): ConfigMap {
  switch (type) {
    case 'json':
      return parseJsonConfig(text);
    case 'yaml':
    case 'yml':
      return parseYaml(text);
    case 'toml':
      return parseToml(text);
    case 'properties':
    case 'props':
    case 'prop':
      return parseProperties(text, env);
    case 'dotenv':
    case 'env':
      return parseDotenv(text, env);
    case 'ini':
      return parseIni(text);
    case 'hcl':
      return parseHcl(text);
    default:
      throw new ConfigFileError(`Unsupported Config Type ${JSON.stringify(type)}`);
  }
}

function jsonToConfigValue(value: unknown): ConfigValue {
  if (value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // encoding/json reads every number as float64, which Go prints without an exponent.
  if (typeof value === 'number') return formatGoFloat(value);
  if (Array.isArray(value)) return value.map(jsonToConfigValue);
  const map: ConfigMap = new Map();
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) map.set(key, jsonToConfigValue(inner));
  return map;
}

// V8 quotes a stretch of the document in its JSON errors; a config file may hold secrets, so that part is dropped.
const JSON_ERROR_SNIPPET = /,\s*".*" is not valid JSON$/s;

function parseJsonConfig(text: string): ConfigMap {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(JSON_ERROR_SNIPPET, '') : String(error);
    throw new ConfigSyntaxError(message);
  }
  if (parsed === null) return new Map();
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = Array.isArray(parsed) ? 'array' : typeof parsed === 'boolean' ? 'bool' : typeof parsed;
    throw new ConfigSyntaxError(`json: cannot unmarshal ${kind} into Go value of type map[string]interface {}`);
  }
  return jsonToConfigValue(parsed) as ConfigMap;
}
