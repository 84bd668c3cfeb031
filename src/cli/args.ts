// Positional-argument rules: cobra v1.4.0's standard ones with their exact messages, plus WAL-G's own validators
// for `delete …` and `wal-verify`.

import { goAtoi, goQuote } from '../config/go-values.ts';
import { errorMessage } from '../errors.ts';

/** What a custom validator may look at besides the arguments. */
export interface ArgsCheckContext {
  /** `wal-g delete retain` */
  readonly commandPath: string;
  /** Long names of the flags given on the command line. */
  readonly changedFlags: ReadonlySet<string>;
}

/** Returns the error message cobra would print, or undefined when the arguments are acceptable. */
export type ArgsValidator = (args: readonly string[], context: ArgsCheckContext) => string | undefined;

/** A command's `Args` rule; a command without one gets cobra's legacy rule (checked while locating the command). */
export type ArgsRule =
  | { readonly kind: 'none' }
  | { readonly kind: 'exact'; readonly count: number }
  | { readonly kind: 'range'; readonly min: number; readonly max: number }
  | { readonly kind: 'min'; readonly count: number }
  | { readonly kind: 'max'; readonly count: number }
  | { readonly kind: 'exactValid'; readonly count: number }
  | { readonly kind: 'custom'; readonly validate: ArgsValidator };

/**
 * A Go runtime panic reproduced on purpose: WAL-G's `delete retain` validator indexes an empty argument list, so the
 * real binary dies with exit code 2 and scripts may depend on that.
 */
export class GoPanic extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoPanic';
  }
}

/** Applies a standard or custom rule; `validArgs` and `suggest` serve cobra's ExactValidArgs. */
export function checkArgs(
  rule: ArgsRule,
  args: readonly string[],
  context: ArgsCheckContext & { readonly validArgs?: readonly string[]; suggest(arg: string): string },
): string | undefined {
  switch (rule.kind) {
    case 'none':
      return args.length > 0 ? `unknown command ${goQuote(args[0])} for ${goQuote(context.commandPath)}` : undefined;
    case 'exact':
      return args.length !== rule.count ? `accepts ${rule.count} arg(s), received ${args.length}` : undefined;
    case 'range':
      return args.length < rule.min || args.length > rule.max
        ? `accepts between ${rule.min} and ${rule.max} arg(s), received ${args.length}`
        : undefined;
    case 'min':
      return args.length < rule.count ? `requires at least ${rule.count} arg(s), only received ${args.length}` : undefined;
    case 'max':
      return args.length > rule.count ? `accepts at most ${rule.count} arg(s), received ${args.length}` : undefined;
    case 'exactValid': {
      if (args.length !== rule.count) return `accepts ${rule.count} arg(s), received ${args.length}`;
      const valid = (context.validArgs ?? []).map((entry) => entry.split('\t')[0]);
      if (valid.length === 0) return undefined;
      for (const arg of args) {
        if (!valid.includes(arg)) {
          return `invalid argument ${goQuote(arg)} for ${goQuote(context.commandPath)}${context.suggest(args[0])}`;
        }
      }
      return undefined;
    }
    case 'custom':
      return rule.validate(args, context);
  }
}

// ---------------------------------------------------------------------------------------------------------
// WAL-G's delete validators (internal/delete_handler.go and cmd/pg/delete.go)

const RETAIN_MODIFIERS = ['FULL', 'FIND_FULL'] as const;

/** Arity plus "the first of max arguments must be a modifier", shared by the delete sub-commands. */
function checkDeleteArity(
  args: readonly string[],
  modifiers: readonly string[],
  minimum: number,
  maximum: number,
): string | undefined {
  if (args.length < minimum || args.length > maximum) {
    return `accepts between ${minimum} and ${maximum} arg(s), received ${args.length}`;
  }
  if (args.length === maximum && !modifiers.includes(args[0])) {
    return `expected to get one of modifiers: [${modifiers.join(' ')}] as first argument`;
  }
  return undefined;
}

/** WAL-G's ExtractDeleteModifierFromArgs: one argument is the target, otherwise the second one is. */
function deleteTargetArgument(args: readonly string[]): { modifier: 'none' | 'FULL' | 'FIND_FULL'; target: string } {
  if (args.length === 1) return { modifier: 'none', target: args[0] };
  if (args.length === 0) throw new GoPanic('runtime error: index out of range [0] with length 0');
  if (args[0] === 'FULL') return { modifier: 'FULL', target: args[1] };
  return { modifier: 'FIND_FULL', target: args[1] };
}

/**
 * Go's time.Parse(time.RFC3339, text): `2006-01-02T15:04:05Z07:00`, optional fractional seconds.
 * Returns undefined for anything Go would reject, so the argument is then treated as a backup name.
 */
export function parseRfc3339(text: string): Date | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  const monthNumber = Number(month);
  const dayNumber = Number(day);
  if (monthNumber < 1 || monthNumber > 12) return undefined;
  const daysInMonth = new Date(Date.UTC(Number(year), monthNumber, 0)).getUTCDate();
  if (dayNumber < 1 || dayNumber > daysInMonth) return undefined;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const zoneHours = Number(zone.slice(1, 3));
    const zoneMinutes = Number(zone.slice(4, 6));
    if (zoneHours > 23 || zoneMinutes > 59) return undefined;
    offsetMinutes = (zoneHours * 60 + zoneMinutes) * (zone[0] === '-' ? -1 : 1);
  }
  const milliseconds = fraction === undefined ? 0 : Number(`0.${fraction}`) * 1000;
  const utc = Date.UTC(Number(year), monthNumber - 1, dayNumber, Number(hour), Number(minute), Number(second));
  return new Date(utc - offsetMinutes * 60_000 + milliseconds);
}

/** `delete before [FIND_FULL] backup_name|timestamp` */
export const validateDeleteBeforeArgs: ArgsValidator = (args) => {
  const arityProblem = checkDeleteArity(args, RETAIN_MODIFIERS, 1, 2);
  if (arityProblem !== undefined) return arityProblem;
  const { modifier, target } = deleteTargetArgument(args);
  if (modifier === 'FULL') return 'unsupported moodifier for delete before command';
  const time = parseRfc3339(target);
  if (time !== undefined && time.getTime() > Date.now()) return 'cannot delete before future date';
  return undefined;
};

/**
 * `delete retain [FULL|FIND_FULL] backup_count`: WAL-G checks only the count (no arity, no modifier spelling), and
 * with no arguments at all its validator panics.
 */
export const validateDeleteRetainArgs: ArgsValidator = (args) => {
  const { target } = deleteTargetArgument(args);
  let count: number;
  try {
    count = goAtoi(target);
  } catch (err) {
    return `expected to get a number as retantion count, but got: '${target}': ${errorMessage(err)}`;
  }
  if (count <= 0) return 'cannot retain less than one backup. Check out delete everything';
  return undefined;
};

/** `delete everything [FORCE]` */
export const validateDeleteEverythingArgs: ArgsValidator = (args) => checkDeleteArity(args, ['FORCE'], 0, 1);

/** `delete target [FIND_FULL] backup_name | --target-user-data <data>` */
export const validateDeleteTargetArgs: ArgsValidator = (args, context) => {
  if (args.length > 2) return `accepts between 0 and 2 arg(s), received ${args.length}`;
  if (args.length === 0 && !context.changedFlags.has('target-user-data')) return 'incorrect arguments';
  if (args.length === 2 && args[0] !== 'FIND_FULL') return 'incorrect arguments';
  return undefined;
};

/** `delete garbage [ARCHIVES|BACKUPS]` */
export const validateDeleteGarbageArgs: ArgsValidator = (args) => checkDeleteArity(args, ['ARCHIVES', 'BACKUPS'], 0, 1);

// ---------------------------------------------------------------------------------------------------------
// wal-verify (cmd/pg/wal_verify.go)

/** The checks wal-verify knows, in the order its usage message lists them. */
export const WAL_VERIFY_CHECKS: readonly string[] = ['integrity', 'timeline'];

/** `wal-verify integrity|timeline ...`: at least one known check; --lsn and --timeline only together. */
export const validateWalVerifyArgs: ArgsValidator = (args, context) => {
  if (args.length < 1) {
    // WAL-G lists the checks in Go map order, which varies between runs; this is one of its two outputs.
    return `at least one of the following checks should be specified: ${WAL_VERIFY_CHECKS.join(', ')}`;
  }
  for (const arg of args) {
    if (!WAL_VERIFY_CHECKS.includes(arg)) return `invalid check specified: ${arg}`;
  }
  const timelineGiven = context.changedFlags.has('timeline');
  const lsnGiven = context.changedFlags.has('lsn');
  if (lsnGiven && !timelineGiven) return '"--lsn" flag works only in conjunction with the "--timeline" flag';
  if (!lsnGiven && timelineGiven) return '"--timeline" flag works only in conjunction with the "--lsn" flag';
  return undefined;
};
