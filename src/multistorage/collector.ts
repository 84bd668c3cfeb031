// Decides which storages are alive: cached verdicts first, explicit checks only for what the cache cannot answer
// (WAL-G's stats.Collector), or "everything is alive" when WALG_FAILOVER_STORAGES_CHECK is off.

import { errorMessage } from '../errors.ts';
import { goQuote } from '../storage/go-text.ts';
import { aliveNames, firstAliveName, type AliveMap, type StatusCache } from './status-cache.ts';

/** Checks the named storages now and tells which are alive. */
export type AliveChecker = (names: readonly string[]) => Promise<AliveMap>;

export interface StatusCollector {
  /** All alive storages, in priority order (maybe none). */
  allAlive(): Promise<string[]>;
  /** The first alive storage in priority order, or undefined when none is. */
  firstAlive(): Promise<string | undefined>;
  /** Whether the named storage is alive; an unknown name is an error. */
  specific(name: string): Promise<boolean>;
  /** An operation's outcome on a storage, weighted. */
  report(name: string, weight: number, success: boolean): void;
  /** Saves what was learnt (the cache file). */
  close(): void;
}

function wrapped(context: string, error: unknown): Error {
  return new Error(`${context}: ${errorMessage(error)}`, { cause: error });
}

/** Checks disabled: every configured storage counts as alive (WAL-G's nop collector). */
export class AlwaysAliveCollector implements StatusCollector {
  readonly #order: readonly string[];

  constructor(order: readonly string[]) {
    this.#order = order;
  }

  async allAlive(): Promise<string[]> {
    return [...this.#order];
  }

  async firstAlive(): Promise<string | undefined> {
    return this.#order[0];
  }

  async specific(name: string): Promise<boolean> {
    if (this.#order.includes(name)) return true;
    throw new Error(`unknown storage ${goQuote(name)}`);
  }

  report(): void {
    // nothing is tracked
  }

  close(): void {
    // nothing to save
  }
}

/** Checks enabled: the cache answers while fresh; outdated storages are checked, then (if need be) all of them. */
export class CheckingCollector implements StatusCollector {
  readonly #order: readonly string[];
  readonly #cache: StatusCache;
  readonly #check: AliveChecker;
  readonly #now: () => number;

  constructor(order: readonly string[], cache: StatusCache, check: AliveChecker, now: () => number = Date.now) {
    this.#order = order;
    this.#cache = cache;
    this.#check = check;
    this.#now = now;
  }

  private read(names: readonly string[]): { relevant: AliveMap; outdated: AliveMap } {
    try {
      return this.#cache.read(names);
    } catch (error) {
      throw wrapped('read status cache', error);
    }
  }

  private async recheck(names: readonly string[], scope: readonly string[], context: string): Promise<AliveMap> {
    const result = await this.#check(names);
    try {
      return this.#cache.applyCheckResult(result, this.#now(), scope);
    } catch (error) {
      throw wrapped(context, error);
    }
  }

  async allAlive(): Promise<string[]> {
    const { relevant, outdated } = this.read(this.#order);
    if (outdated.size === 0) {
      const alive = aliveNames(relevant, this.#order);
      if (alive.length > 0) return alive;
    }
    const afterOutdated = await this.recheck([...outdated.keys()], this.#order, 'apply outdated storages check result');
    const aliveAfterOutdated = aliveNames(afterOutdated, this.#order);
    if (aliveAfterOutdated.length > 0) return aliveAfterOutdated;
    // Every storage looks dead: maybe the cache is wrong about the fresh ones too.
    const afterAll = await this.recheck([...relevant.keys()], this.#order, 'apply relevant storages check result');
    return aliveNames(afterAll, this.#order);
  }

  async firstAlive(): Promise<string | undefined> {
    const { relevant, outdated } = this.read(this.#order);
    const cached = firstAliveName(relevant, this.#order);
    if (cached !== undefined) return cached;
    const afterOutdated = await this.recheck([...outdated.keys()], this.#order, 'apply outdated storages check result');
    const found = firstAliveName(afterOutdated, this.#order);
    if (found !== undefined) return found;
    const afterAll = await this.recheck([...relevant.keys()], this.#order, 'apply relevant storages check result');
    return firstAliveName(afterAll, this.#order);
  }

  async specific(name: string): Promise<boolean> {
    const { relevant } = this.read([name]);
    if (relevant.get(name) === true) return true;
    const after = await this.recheck([name], [name], `apply storage ${goQuote(name)} check result`);
    return after.get(name) === true;
  }

  report(name: string, weight: number, success: boolean): void {
    this.#cache.applyOperationResult(name, success, weight);
  }

  close(): void {
    this.#cache.flush();
  }
}
