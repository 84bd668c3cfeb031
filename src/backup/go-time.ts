// Go's time.Time as WAL-G's documents and listings carry it: nanosecond instants with a zone offset, parsed from and
// printed as RFC 3339 (with or without nanoseconds) and RFC 850, exactly as Go's time package does.

import { JsonFormatError } from './json.ts';

/** An instant with nanosecond precision and the zone it is shown in. */
export interface GoTime {
  /** Whole seconds since the Unix epoch (UTC). */
  readonly seconds: number;
  /** 0 ≤ nanoseconds < 1e9. */
  readonly nanoseconds: number;
  /** East of UTC, in seconds; 0 prints as `Z`. */
  readonly offsetSeconds: number;
  /** Zone abbreviation for RFC 850 output (`UTC`, `CET`); undefined prints `+hhmm`. */
  readonly zoneName?: string;
}

/** Go's zero time.Time, `0001-01-01T00:00:00Z`. */
export const ZERO_GO_TIME: GoTime = { seconds: -62135596800, nanoseconds: 0, offsetSeconds: 0, zoneName: 'UTC' };

export function isZeroGoTime(time: GoTime): boolean {
  return time.seconds === ZERO_GO_TIME.seconds && time.nanoseconds === 0;
}

/** Orders instants; the zone does not matter. */
export function compareGoTimes(left: GoTime, right: GoTime): number {
  if (left.seconds !== right.seconds) return left.seconds < right.seconds ? -1 : 1;
  return left.nanoseconds - right.nanoseconds;
}

/** Milliseconds since the epoch (sub-millisecond digits dropped), for Date interop. */
export function goTimeToMilliseconds(time: GoTime): number {
  return time.seconds * 1000 + Math.floor(time.nanoseconds / 1e6);
}

/** A UTC instant from epoch nanoseconds. */
export function goTimeFromNanoseconds(epochNanoseconds: bigint, zone: 'UTC' | 'local' = 'UTC'): GoTime {
  let seconds = epochNanoseconds / 1_000_000_000n;
  let nanoseconds = epochNanoseconds % 1_000_000_000n;
  if (nanoseconds < 0n) {
    nanoseconds += 1_000_000_000n;
    seconds -= 1n;
  }
  const time = { seconds: Number(seconds), nanoseconds: Number(nanoseconds), offsetSeconds: 0, zoneName: 'UTC' };
  return zone === 'local' ? inLocalZone(time) : time;
}

/** A Date as a Go time in UTC or in the process's local zone (Go's time.Local, from TZ or /etc/localtime). */
export function goTimeFromDate(date: Date, zone: 'UTC' | 'local' = 'UTC'): GoTime {
  return goTimeFromNanoseconds(BigInt(date.getTime()) * 1_000_000n, zone);
}

/** The same instant shown in the local zone, with its abbreviation when the platform knows one. */
export function inLocalZone(time: GoTime): GoTime {
  const milliseconds = goTimeToMilliseconds(time);
  const offsetSeconds = -new Date(milliseconds).getTimezoneOffset() * 60;
  return { seconds: time.seconds, nanoseconds: time.nanoseconds, offsetSeconds, zoneName: localZoneName(milliseconds, offsetSeconds) };
}

function localZoneName(milliseconds: number, offsetSeconds: number): string | undefined {
  if (offsetSeconds === 0 && (process.env.TZ === undefined || process.env.TZ === '' || /^(UTC|Etc\/UTC|UTC0)$/.test(process.env.TZ))) {
    return 'UTC';
  }
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(new Date(milliseconds));
    const name = parts.find((part) => part.type === 'timeZoneName')?.value;
    // Intl invents "GMT+3" where the zone database has no abbreviation; Go prints "+03" style then.
    if (name === undefined || /^GMT[+-]/.test(name)) return undefined;
    return name;
  } catch {
    return undefined;
  }
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Parses RFC 3339 with optional fraction (what Go's time.Time UnmarshalJSON and time.Parse(RFC3339) accept). */
export function parseGoTime(text: string): GoTime | undefined {
  const match = RFC3339.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zulu, sign, offsetHours, offsetMinutes] = match;
  const monthNumber = Number(month);
  const dayNumber = Number(day);
  if (monthNumber < 1 || monthNumber > 12 || dayNumber < 1) return undefined;
  const daysInMonth = new Date(Date.UTC(2000, monthNumber, 0)).getUTCDate();
  const leapAdjusted = monthNumber === 2 ? (isLeapYear(Number(year)) ? 29 : 28) : daysInMonth;
  if (dayNumber > leapAdjusted || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
  let offsetSeconds = 0;
  if (zulu === undefined) {
    if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return undefined;
    offsetSeconds = (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60) * (sign === '-' ? -1 : 1);
  }
  const localSeconds = daysFromCivil(Number(year), monthNumber, dayNumber) * 86400 + Number(hour) * 3600 + Number(minute) * 60 + Number(second);
  const nanoseconds = fraction === undefined ? 0 : Number(fraction.padEnd(9, '0'));
  const time: GoTime = { seconds: localSeconds - offsetSeconds, nanoseconds, offsetSeconds, zoneName: offsetSeconds === 0 ? 'UTC' : undefined };
  // Go gives a parsed time the Local location when the offset is the local zone's offset at that instant.
  if (offsetSeconds !== 0) {
    const local = inLocalZone(time);
    if (local.offsetSeconds === offsetSeconds) return local;
  }
  return time;
}

/** Like parseGoTime for a JSON field: a malformed value is Go's parsing error. */
export function parseGoTimeField(text: string, field: string): GoTime {
  const time = parseGoTime(text);
  if (time === undefined) {
    throw new JsonFormatError(`parsing time ${JSON.stringify(text)} as "2006-01-02T15:04:05Z07:00": cannot parse field ${field}`);
  }
  return time;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (works for year 1 as well). */
function daysFromCivil(year: number, month: number, day: number): number {
  const shiftedYear = month <= 2 ? year - 1 : year;
  const era = Math.floor(shiftedYear / 400);
  const yearOfEra = shiftedYear - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

interface CivilTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

function civilOf(time: GoTime): CivilTime {
  const local = time.seconds + time.offsetSeconds;
  const days = Math.floor(local / 86400);
  const secondOfDay = local - days * 86400;
  // civil_from_days (Howard Hinnant's algorithm)
  const shifted = days + 719468;
  const era = Math.floor(shifted / 146097);
  const dayOfEra = shifted - era * 146097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return {
    year,
    month,
    day,
    hour: Math.floor(secondOfDay / 3600),
    minute: Math.floor((secondOfDay % 3600) / 60),
    second: secondOfDay % 60,
    weekday: (((days % 7) + 11) % 7), // 1970-01-01 was a Thursday (4)
  };
}

function two(value: number): string {
  return String(value).padStart(2, '0');
}

function offsetText(offsetSeconds: number, colon: boolean): string {
  const sign = offsetSeconds < 0 ? '-' : '+';
  const absolute = Math.abs(offsetSeconds);
  const hours = two(Math.floor(absolute / 3600));
  const minutes = two(Math.floor((absolute % 3600) / 60));
  return colon ? `${sign}${hours}:${minutes}` : `${sign}${hours}${minutes}`;
}

function dateAndClock(civil: CivilTime): string {
  const year = civil.year >= 0 && civil.year <= 9999 ? String(civil.year).padStart(4, '0') : String(civil.year);
  return `${year}-${two(civil.month)}-${two(civil.day)}T${two(civil.hour)}:${two(civil.minute)}:${two(civil.second)}`;
}

/** time.RFC3339Nano: fraction without trailing zeros (none when zero), `Z` for a zero offset. */
export function formatRfc3339Nano(time: GoTime): string {
  let fraction = '';
  if (time.nanoseconds !== 0) fraction = `.${String(time.nanoseconds).padStart(9, '0').replace(/0+$/, '')}`;
  return `${dateAndClock(civilOf(time))}${fraction}${time.offsetSeconds === 0 ? 'Z' : offsetText(time.offsetSeconds, true)}`;
}

/** time.RFC3339: whole seconds. */
export function formatRfc3339(time: GoTime): string {
  return `${dateAndClock(civilOf(time))}${time.offsetSeconds === 0 ? 'Z' : offsetText(time.offsetSeconds, true)}`;
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** time.RFC850, `Monday, 02-Jan-06 15:04:05 MST`. */
export function formatRfc850(time: GoTime): string {
  const civil = civilOf(time);
  const zone = time.zoneName ?? offsetText(time.offsetSeconds, false);
  const shortYear = two(((civil.year % 100) + 100) % 100);
  return `${WEEKDAYS[civil.weekday]}, ${two(civil.day)}-${MONTHS[civil.month - 1]}-${shortYear} ${two(civil.hour)}:${two(civil.minute)}:${two(civil.second)} ${zone}`;
}

/** WAL-G's FormatTime: RFC 3339, or `-` for the zero time. */
export function formatListTime(time: GoTime): string {
  return isZeroGoTime(time) ? '-' : formatRfc3339(time);
}

/** WAL-G's PrettyFormatTime: RFC 850, or `-` for the zero time. */
export function formatPrettyListTime(time: GoTime): string {
  return isZeroGoTime(time) ? '-' : formatRfc850(time);
}
