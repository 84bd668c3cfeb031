// Go's time.Time.String() ("2006-01-02 15:04:05.999999999 -0700 MST"), which `st ls` prints for every object.

/** What Go prints for the zero time.Time: the modification time `st ls` shows for folders. */
export const GO_ZERO_TIME_TEXT = '0001-01-01 00:00:00 +0000 UTC';

/** UTC for times a storage API reports in UTC (S3, GCS...); Local for file times, which Go reads in time.Local. */
export type GoLocation = 'UTC' | 'Local';

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** The nanoseconds after the second, as Go's `.999999999` prints them: trailing zeros dropped, nothing for 0. */
function fraction(nanoseconds: number): string {
  if (nanoseconds === 0) return '';
  return `.${String(nanoseconds).padStart(9, '0').replace(/0+$/, '')}`;
}

/**
 * The zone abbreviation Go would print for a local time. Go reads it from tzdata ("UTC", "CET", "+03"); Intl gives
 * the same names for UTC and many zones, and "GMT+3" style names where tzdata has numeric ones, which we convert.
 */
function localZoneAbbreviation(date: Date, offsetMinutes: number): string {
  if (offsetMinutes === 0 && isUtcZone()) return 'UTC';
  let name: string | undefined;
  try {
    name = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
      .formatToParts(date)
      .find((part) => part.type === 'timeZoneName')?.value;
  } catch {
    name = undefined;
  }
  if (name !== undefined && !/^GMT[+-]/.test(name) && !/^UTC[+-]/.test(name)) return name;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const magnitude = Math.abs(offsetMinutes);
  const minutes = magnitude % 60;
  return `${sign}${pad(Math.floor(magnitude / 60))}${minutes === 0 ? '' : pad(minutes)}`;
}

let utcZone: boolean | undefined;

function isUtcZone(): boolean {
  if (utcZone === undefined) {
    let zone = '';
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone ?? '';
    } catch {
      zone = '';
    }
    utcZone = zone === '' || /^(Etc\/)?(UTC|UCT|Universal|Zulu)$/i.test(zone) || zone === 'Etc/GMT' || zone === 'UTC';
  }
  return utcZone;
}

/**
 * Formats a point in time as Go's Time.String() does, from nanoseconds since the Unix epoch (a bigint keeps the
 * file system's full precision) or from a Date (milliseconds).
 */
export function goTimeString(time: bigint | Date, location: GoLocation): string {
  const epochNanoseconds = typeof time === 'bigint' ? time : BigInt(time.getTime()) * 1_000_000n;
  let milliseconds = epochNanoseconds / 1_000_000n;
  let nanosecondsOfSecond = Number(epochNanoseconds % 1_000_000_000n);
  if (nanosecondsOfSecond < 0) {
    nanosecondsOfSecond += 1_000_000_000;
    milliseconds -= 1n;
  }
  const date = new Date(Number(milliseconds));
  if (location === 'UTC') {
    return (
      `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
      `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}${fraction(nanosecondsOfSecond)} ` +
      '+0000 UTC'
    );
  }
  const offsetMinutes = -date.getTimezoneOffset();
  const sign = offsetMinutes < 0 ? '-' : '+';
  const magnitude = Math.abs(offsetMinutes);
  const offset = `${sign}${pad(Math.floor(magnitude / 60))}${pad(magnitude % 60)}`;
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${fraction(nanosecondsOfSecond)} ` +
    `${offset} ${localZoneAbbreviation(date, offsetMinutes)}`
  );
}
