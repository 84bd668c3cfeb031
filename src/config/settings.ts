// Resolved settings: hidden flag > environment > config file > default, as WAL-G (viper) resolves them, with
// WAL-G's typed readers, storage alias lookups, environment export and DEVEL dump on top.

import { userInfo } from 'node:os';
import { WalgError } from '../errors.ts';
import { earlyWarning, log } from '../log/logger.ts';
import { ConfigFileError, findHomeConfigFile, readConfigFile } from './config-file.ts';
import { type ConfigMap, type ConfigValue, configValueAsString, configValueIsPresent, isConfigMap } from './config-values.ts';
import {
  goAtoi,
  lenientGoBool,
  lenientGoFloat,
  lenientGoInt,
  parseGoBool,
  parseGoDuration,
  parseGoFloat,
  parseGoInt,
  viperSizeInBytes,
} from './go-values.ts';
import {
  ALLOWED_SETTING_NAMES,
  NESTED_MAP_SETTINGS,
  SECRET_SETTING_NAMES,
  SETTING_DEFAULTS,
  STORAGE_ADAPTERS,
  type StorageKind,
  findSetting,
  isAllowedSetting,
} from './settings-table.ts';

export interface LoadSettingsOptions {
  /** Values of hidden per-setting flags explicitly given on the command line, keyed by setting name (e.g. WALG_S3_PREFIX). */
  flagValues: ReadonlyMap<string, string>;
  /** `--config` value, if given. */
  configPath?: string;
  /** Environment to read (process.env in production). */
  env: NodeJS.ProcessEnv;
  /** Home directory to search for .walg.* when no --config (defaults to the OS user database's home). */
  homeDir?: string;
  /** Where config-file warnings go (default: earlyWarning, i.e. stderr, since logging is not set up yet). */
  warn?: (message: string) => void;
}

export type SettingSource = 'flag' | 'env' | 'file' | 'default';

export interface ResolvedSetting {
  /** As stored: not trimmed, possibly empty (an empty file value or flag still counts as set, as in viper). */
  readonly value: string;
  readonly source: SettingSource;
}

/** The primary storage's prefix: which adapter, which setting supplied it, and its value. */
export interface StoragePrefix {
  readonly kind: StorageKind;
  readonly setting: string;
  readonly value: string;
}

/** What the storage lookups need from a scope: viper's "is it set, and to what" for one name. */
interface SettingScope {
  lookupValue(name: string): string | undefined;
}

interface SettingsSources {
  readonly flags: ReadonlyMap<string, string>;
  readonly env: NodeJS.ProcessEnv;
  readonly consultEnv: boolean;
  readonly file: ConfigMap | undefined;
  readonly configFileUsed: string | undefined;
  /** For settings read from another file (copy --from/--to): where bare adapter settings fall back to. */
  readonly fallback: Settings | undefined;
}

let defaultsByName: ReadonlyMap<string, string> | undefined;

function defaultValue(name: string): string | undefined {
  if (defaultsByName === undefined) defaultsByName = new Map(SETTING_DEFAULTS);
  return defaultsByName.get(name);
}

/** WAL-G's GetSetting trims trailing line breaks (TrimRight with "\r\n"). */
function trimLineBreaks(value: string): string {
  let end = value.length;
  while (end > 0 && (value[end - 1] === '\n' || value[end - 1] === '\r')) end--;
  return end === value.length ? value : value.slice(0, end);
}

/** A value as it may appear in an error: secrets never do. */
function shownValue(name: string, value: string): string {
  return SECRET_SETTING_NAMES.has(name) ? '--HIDDEN--' : value;
}

function goReason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class Settings {
  /** The config file viper would report as used (set even when reading it failed), if any. */
  readonly configFileUsed: string | undefined;
  /** Top-level config-file keys not in WAL-G's allowed list, upper-cased, in file order. */
  readonly unknownFileKeys: readonly string[];
  private readonly sources: SettingsSources;

  constructor(sources: SettingsSources) {
    this.sources = sources;
    this.configFileUsed = sources.configFileUsed;
    const unknown: string[] = [];
    if (sources.file !== undefined) {
      for (const [key, value] of sources.file) {
        const upper = key.toUpperCase();
        if (configValueIsPresent(value) && !isAllowedSetting(upper) && findSetting(upper)?.walnutOnly !== true) unknown.push(upper);
      }
    }
    this.unknownFileKeys = unknown;
  }

  /** The environment this object reads (and exportToEnvironment writes by default). */
  get env(): NodeJS.ProcessEnv {
    return this.sources.env;
  }

  /** Whether a config file was read successfully. */
  get configFileLoaded(): boolean {
    return this.sources.file !== undefined;
  }

  /** Upper-case names of every top-level key present in the config file. */
  fileKeys(): string[] {
    const keys: string[] = [];
    if (this.sources.file !== undefined) {
      for (const [key, value] of this.sources.file) if (configValueIsPresent(value)) keys.push(key.toUpperCase());
    }
    return keys;
  }

  /** The raw value and where it came from, or undefined when the setting is not set anywhere (viper's IsSet). */
  lookup(name: string): ResolvedSetting | undefined {
    const upper = name.toUpperCase();
    const flagValue = this.sources.flags.get(upper);
    if (flagValue !== undefined) return { value: flagValue, source: 'flag' };
    if (this.sources.consultEnv) {
      const envValue = this.sources.env[upper];
      if (envValue !== undefined && envValue !== '') return { value: envValue, source: 'env' };
    }
    const fileValue = this.fileValue(upper);
    if (fileValue !== undefined && fileValue !== null) return { value: configValueAsString(fileValue), source: 'file' };
    const builtIn = defaultValue(upper);
    if (builtIn !== undefined) return { value: builtIn, source: 'default' };
    return undefined;
  }

  /** viper's IsSet: true when any source has the setting, even with an empty value from a file or flag. */
  isSet(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  /** The value with trailing line breaks trimmed; empty strings count as unset. */
  get(name: string): string | undefined {
    const resolved = this.lookup(name);
    if (resolved === undefined) return undefined;
    const value = trimLineBreaks(resolved.value);
    return value === '' ? undefined : value;
  }

  /** The value, or `fallback` when unset or empty. */
  getOr(name: string, fallback: string): string {
    return this.get(name) ?? fallback;
  }

  /** viper.GetBool: anything other than Go's true spellings (including garbage) is false. */
  bool(name: string): boolean {
    return lenientGoBool(this.lookup(name)?.value);
  }

  /** A boolean that must parse: `fallback` when unset, an error naming the setting when the value is not a boolean. */
  boolStrict(name: string, fallback: boolean): boolean {
    const value = this.settingValue(name);
    if (value === undefined) return fallback;
    try {
      return parseGoBool(value);
    } catch (error) {
      throw new WalgError(`setting "${name}" must be a boolean: ${this.goError(name, value, error)}`);
    }
  }

  /** viper.GetInt: Go integer syntax (0x.., 0o.., leading-0 octal, `_`); anything unparsable is 0. */
  int(name: string): number {
    return lenientGoInt(this.lookup(name)?.value);
  }

  /** A concurrency level (WAL-G's GetMaxConcurrency): read like int(), and it must be at least 1. */
  concurrency(name: string): number {
    const value = this.int(name);
    if (value < 1) throw new WalgError(`${name} value is expected to be positive but is: ${value}`);
    return value;
  }

  /** A Go duration (`30s`, `1h30m`) in milliseconds; undefined when unset; an error naming the setting when invalid. */
  durationMs(name: string): number | undefined {
    const value = this.settingValue(name);
    if (value === undefined) return undefined;
    try {
      return parseGoDuration(value) / 1e6;
    } catch (error) {
      throw new WalgError(`duration expected for ${name} setting but given '${shownValue(name, value)}': ${this.goError(name, value, error)}`);
    }
  }

  /** Like durationMs, but an unset setting is an error (WAL-G's GetDurationSetting). */
  requiredDurationMs(name: string): number {
    const duration = this.durationMs(name);
    if (duration === undefined) throw new WalgError(`${name} is required to be set, but it isn't`);
    return duration;
  }

  /** viper.GetSizeInBytes: a number with an optional b/kb/mb/gb suffix; unparsable values are 0. */
  sizeInBytes(name: string): number {
    const value = this.lookup(name)?.value;
    return value === undefined ? 0 : viperSizeInBytes(value);
  }

  /** A float that must parse; undefined when unset; an error naming the setting when invalid. */
  float(name: string): number | undefined {
    const value = this.settingValue(name);
    if (value === undefined) return undefined;
    try {
      return parseGoFloat(value);
    } catch (error) {
      throw new WalgError(`setting "${name}" must be a float: ${this.goError(name, value, error)}`);
    }
  }

  /** viper.GetFloat64: anything unparsable is 0. */
  floatLenient(name: string): number {
    return lenientGoFloat(this.lookup(name)?.value);
  }

  /** A JSON document (user data settings); undefined when unset or empty; WAL-G's error when it does not parse. */
  json(name: string): unknown {
    const value = this.get(name);
    if (value === undefined) return undefined;
    return parseUserDataJson(value, SECRET_SETTING_NAMES.has(name));
  }

  // ------------------------------------------------------------------------------------------------------
  // Storage settings

  /** "Is it set, and to what" for the storage lookups: viper's IsSet plus GetString (untrimmed, maybe empty). */
  lookupValue(name: string): string | undefined {
    const resolved = this.lookup(name);
    return resolved === undefined ? undefined : resolved.value;
  }

  /** A storage-adapter setting X: X itself, else WALG_X, else WALE_X, else a built-in default of those. */
  storageSetting(name: string): string | undefined {
    return storageSettingIn(this, name, this.sources.fallback ?? this);
  }

  /** The primary storage: the first adapter, in WAL-G's fixed order, whose WALG_/WALE_ prefix is set. */
  storagePrefix(): StoragePrefix | undefined {
    return storagePrefixIn(this);
  }

  /** Every setting one adapter reads, resolved through the alias rule (WAL-G's adapter loadSettings). */
  storageAdapterSettings(kind: StorageKind): Map<string, string> {
    return storageAdapterSettingsIn(this, kind, this.sources.fallback ?? this);
  }

  /**
   * WALG_FAILOVER_STORAGES from the config file: storage name (lower-cased, as viper stores it) → its settings
   * (upper-case names → values), names in sorted order. Only a config file can hold this nested map.
   */
  failoverStorages(): Map<string, ReadonlyMap<string, string>> {
    const resolved = this.lookup('WALG_FAILOVER_STORAGES');
    if (resolved === undefined || (resolved.value === '' && resolved.source !== 'file')) return new Map();
    if (resolved.source !== 'file') {
      throw new WalgError('WALG_FAILOVER_STORAGES can only be set in a config file (it is a map of storage name to settings)');
    }
    const section = this.fileValue('WALG_FAILOVER_STORAGES');
    const result = new Map<string, ReadonlyMap<string, string>>();
    if (!isConfigMap(section)) return result;
    for (const name of [...section.keys()].sort()) {
      const settings = section.get(name)!;
      if (!isConfigMap(settings)) {
        throw new WalgError(`failover storage ${name}: its settings must be a map of setting names to values`);
      }
      const flat = new Map<string, string>();
      for (const [key, value] of settings) if (value !== null) flat.set(key.toUpperCase(), configValueAsString(value));
      result.set(name, flat);
    }
    return result;
  }

  /** Storage lookups for one failover storage, inheriting bare adapter settings (e.g. credentials) from here. */
  failoverStorageScope(name: string): FailoverStorageSettings | undefined {
    const settings = this.failoverStorages().get(name);
    return settings === undefined ? undefined : new FailoverStorageSettings(name, settings, this);
  }

  /** WALG_STATSD_EXTRA_TAGS: a nested map in a config file, or a JSON object of strings from a flag or env. */
  statsdExtraTags(): Map<string, string> {
    const tags = new Map<string, string>();
    const resolved = this.lookup('WALG_STATSD_EXTRA_TAGS');
    if (resolved === undefined) return tags;
    const fileValue = resolved.source === 'file' ? this.fileValue('WALG_STATSD_EXTRA_TAGS') : undefined;
    if (isConfigMap(fileValue)) {
      for (const [key, value] of fileValue) tags.set(key, value === null ? '' : configValueAsString(value));
      return tags;
    }
    // Like cast.ToStringMapString on a string: a JSON object, keeping the entries whose values are strings.
    try {
      const parsed: unknown = JSON.parse(resolved.value);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        for (const [key, value] of Object.entries(parsed)) if (typeof value === 'string') tags.set(key, value);
      }
    } catch {
      // viper ignores the error and yields an empty map
    }
    return tags;
  }

  // ------------------------------------------------------------------------------------------------------

  /** GetSetting: set → trimmed value (possibly empty, which strict readers then reject). */
  private settingValue(name: string): string | undefined {
    const resolved = this.lookup(name);
    return resolved === undefined ? undefined : trimLineBreaks(resolved.value);
  }

  private fileValue(upperName: string): ConfigValue | undefined {
    return this.sources.file?.get(upperName.toLowerCase());
  }

  private goError(name: string, value: string, error: unknown): string {
    const reason = goReason(error);
    return SECRET_SETTING_NAMES.has(name) ? reason.replaceAll(value, '--HIDDEN--') : reason;
  }
}

/** Storage lookups inside one WALG_FAILOVER_STORAGES entry (WAL-G's viper.Sub): only the entry's own keys count. */
export class FailoverStorageSettings implements SettingScope {
  readonly name: string;
  private readonly values: ReadonlyMap<string, string>;
  private readonly global: Settings;

  constructor(name: string, values: ReadonlyMap<string, string>, global: Settings) {
    this.name = name;
    this.values = values;
    this.global = global;
  }

  lookupValue(name: string): string | undefined {
    return this.values.get(name.toUpperCase());
  }

  storageSetting(name: string): string | undefined {
    return storageSettingIn(this, name, this.global);
  }

  storagePrefix(): StoragePrefix | undefined {
    return storagePrefixIn(this);
  }

  storageAdapterSettings(kind: StorageKind): Map<string, string> {
    return storageAdapterSettingsIn(this, kind, this.global);
  }
}

/** WAL-G's GetWaleCompatibleSettingFrom: WALG_<key>, then WALE_<key>, then a non-empty built-in default of either. */
function waleCompatibleSetting(scope: SettingScope, key: string): { setting: string; value: string } | undefined {
  const walgName = 'WALG_' + key;
  const waleName = 'WALE_' + key;
  const walgValue = scope.lookupValue(walgName);
  if (walgValue !== undefined) return { setting: walgName, value: walgValue };
  const waleValue = scope.lookupValue(waleName);
  if (waleValue !== undefined) return { setting: waleName, value: waleValue };
  const walgDefault = defaultValue(walgName);
  if (walgDefault) return { setting: walgName, value: walgDefault };
  const waleDefault = defaultValue(waleName);
  if (waleDefault) return { setting: waleName, value: waleDefault };
  return undefined;
}

function storageSettingIn(scope: SettingScope, name: string, global: Settings): string | undefined {
  const own = scope.lookupValue(name);
  if (own !== undefined) return own;
  const alias = waleCompatibleSetting(scope, name);
  if (alias !== undefined) return alias.value;
  // Last, the bare name from the main settings: failover entries inherit e.g. credentials this way.
  const inherited = global.lookupValue(name);
  return inherited === undefined ? undefined : trimLineBreaks(inherited);
}

function storagePrefixIn(scope: SettingScope): StoragePrefix | undefined {
  for (const adapter of STORAGE_ADAPTERS) {
    const found = waleCompatibleSetting(scope, adapter.prefixKey);
    if (found !== undefined) return { kind: adapter.kind, setting: found.setting, value: found.value };
  }
  return undefined;
}

function storageAdapterSettingsIn(scope: SettingScope, kind: StorageKind, global: Settings): Map<string, string> {
  const adapter = STORAGE_ADAPTERS.find((candidate) => candidate.kind === kind);
  const settings = new Map<string, string>();
  if (adapter === undefined) return settings;
  for (const name of adapter.settingNames) {
    const value = storageSettingIn(scope, name, global);
    if (value !== undefined) settings.set(name, value);
  }
  return settings;
}

// ---------------------------------------------------------------------------------------------------------
// Typed readers for a storage adapter's resolved settings (WAL-G's pkg/storages/storage/setting).

export function storageSettingBool(settings: ReadonlyMap<string, string>, name: string, fallback: boolean): boolean {
  const value = settings.get(name);
  if (value === undefined) return fallback;
  try {
    return parseGoBool(value);
  } catch (error) {
    throw new WalgError(`setting "${name}" must be a boolean: ${goReason(error)}`);
  }
}

export function storageSettingInt(settings: ReadonlyMap<string, string>, name: string, fallback: number): number {
  const value = settings.get(name);
  if (value === undefined) return fallback;
  try {
    return goAtoi(value);
  } catch (error) {
    throw new WalgError(`setting "${name}" must be an integer: ${goReason(error)}`);
  }
}

export function storageSettingRequiredInt(settings: ReadonlyMap<string, string>, name: string): number {
  if (!settings.has(name)) throw new WalgError(`setting "${name}" is required`);
  return storageSettingInt(settings, name, 0);
}

export function storageSettingInt64(settings: ReadonlyMap<string, string>, name: string, fallback: number): number {
  const value = settings.get(name);
  if (value === undefined) return fallback;
  try {
    return parseGoInt(value, 10);
  } catch (error) {
    throw new WalgError(`setting "${name}" must be a 64-bit integer: ${goReason(error)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------

/**
 * User data JSON as WAL-G reads it (WALG_SENTINEL_USER_DATA, --add-user-data, …): empty means none; invalid JSON is
 * `failed to read the user data as a JSON object: Failed to unmarshal <text>: <reason>`.
 */
export function parseUserDataJson(text: string, hideText = false): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = goReason(error).replace(/,\s*".*" is not valid JSON$/s, '');
    const shown = hideText ? '--HIDDEN--' : text;
    throw new WalgError(`failed to read the user data as a JSON object: Failed to unmarshal ${shown}: ${reason}`);
  }
}

/** The message every command but a few gives when no storage prefix is set anywhere. */
export function missingStorageError(): WalgError {
  return new WalgError('Failed to find any configured storage');
}

/** The storage-configuration error when no prefix is set (reachable only by paths that skip the pre-run check). */
export function noStorageConfiguredError(): WalgError {
  const names = STORAGE_ADAPTERS.map((adapter) => 'WALG_' + adapter.prefixKey).join(' ');
  return new WalgError(`No storage is configured now, please set one of following settings: [${names}]`);
}

function defaultHomeDirectory(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return userInfo().homedir;
  } catch {
    return env.HOME || undefined;
  }
}

interface FileReadResult {
  readonly path: string | undefined;
  readonly tree: ConfigMap | undefined;
}

function readConfiguredFile(
  configPath: string | undefined,
  homeDir: string | undefined,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): FileReadResult {
  let path: string | undefined = configPath;
  if (!path) {
    const home = homeDir ?? defaultHomeDirectory(env);
    path = home === undefined ? undefined : findHomeConfigFile(home);
    if (path === undefined) return { path: undefined, tree: undefined };
  }
  try {
    return { path, tree: readConfigFile(path, env) };
  } catch (error) {
    if (!(error instanceof ConfigFileError)) throw error;
    warn(`Failed to parse config file ${path}. ${error.message}.`);
    return { path, tree: undefined };
  }
}

function warnAboutUnknownKeys(settings: Settings, warn: (message: string) => void): void {
  if (settings.unknownFileKeys.length === 0) return;
  for (const key of settings.unknownFileKeys) warn(`${key} is unknown`);
  warn(
    "We found that some variables in your config file detected as 'Unknown'. \n  " +
      'If this is not right, please create issue https://github.com/wal-g/wal-g/issues/new',
  );
}

/**
 * Reads the config file (warning, not failing, when it cannot be read) and returns the resolved settings.
 * Emits WAL-G's unknown-key warnings. Does not touch the environment: call exportToEnvironment for that.
 */
export function loadSettings(opts: LoadSettingsOptions): Settings {
  const warn = opts.warn ?? earlyWarning;
  const flags = new Map<string, string>();
  for (const [name, value] of opts.flagValues) flags.set(name.toUpperCase(), value);
  const file = readConfiguredFile(opts.configPath, opts.homeDir, opts.env, warn);
  const settings = new Settings({
    flags,
    env: opts.env,
    consultEnv: true,
    file: file.tree,
    configFileUsed: file.path,
    fallback: undefined,
  });
  warnAboutUnknownKeys(settings, warn);
  return settings;
}

export interface ReadSettingsFileOptions {
  /** The main settings: bare storage-adapter settings missing from the file are taken from here, as WAL-G does. */
  global?: Settings;
  /** Environment for `${VAR}` expansion in properties/dotenv files (default process.env). Not a settings source. */
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** Default: log.warn (logging is configured by the time commands read extra files). */
  warn?: (message: string) => void;
}

/**
 * Settings from one config file plus the built-in defaults only (no flags, no environment), for `copy --from/--to`.
 * An empty path searches the home directory like loadSettings.
 */
export function readSettingsFile(path: string, options: ReadSettingsFileOptions = {}): Settings {
  const warn = options.warn ?? ((message: string) => log.warn(message));
  const env = options.env ?? process.env;
  const file = readConfiguredFile(path, options.homeDir, env, warn);
  if (file.tree !== undefined) log.debug(`Using config file: ${file.path}`);
  const settings = new Settings({
    flags: new Map(),
    env,
    consultEnv: false,
    file: file.tree,
    configFileUsed: file.path,
    fallback: options.global,
  });
  warnAboutUnknownKeys(settings, warn);
  return settings;
}

/** The names viper's AllSettings holds: every allowed name (bound to a flag), every default, every file key. */
function knownKeys(settings: Settings): string[] {
  const keys = new Set<string>(ALLOWED_SETTING_NAMES);
  for (const [name] of SETTING_DEFAULTS) keys.add(name);
  for (const name of settings.fileKeys()) keys.add(name);
  return [...keys];
}

/**
 * Exports every resolved, non-empty setting (defaults included, e.g. PGAPPNAME=wal-g, and config-file keys WAL-G
 * does not know) into `env`, so libpq-style readers and child processes see config-file values. The two nested maps
 * are never exported. An explicitly empty flag clears an inherited variable, as in WAL-G.
 */
export function exportToEnvironment(settings: Settings, env: NodeJS.ProcessEnv = settings.env): void {
  for (const name of knownKeys(settings)) {
    if (NESTED_MAP_SETTINGS.has(name)) continue;
    const value = settings.lookup(name)?.value ?? '';
    if (value === '' && !env[name]) continue;
    env[name] = value;
  }
}

/**
 * The lines of WAL-G's DEVEL block: the header, then `\tNAME=value` for every known key present in `env`, sorted,
 * secrets shown as `--HIDDEN--` unless empty. WAL-G prints them as one DEBUG record: log.debug(lines.join('\n')).
 */
export function develEnvironmentDump(settings: Settings, env: NodeJS.ProcessEnv = settings.env): string[] {
  const lines = ['--- COMPILED ENVIRONMENT VARS ---'];
  for (const name of knownKeys(settings).sort()) {
    const value = env[name];
    if (value === undefined) continue;
    lines.push(`\t${name}=${SECRET_SETTING_NAMES.has(name) && value !== '' ? '--HIDDEN--' : value}`);
  }
  return lines;
}
