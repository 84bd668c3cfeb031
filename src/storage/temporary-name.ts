// Hex digits that make temporary file names unique, without node:crypto: loading it costs a per-segment command
// ~20 ms of CPU under --jitless (docs/PERFORMANCE.md, session 5), and these names are not secrets.

let issued = 0;

/**
 * `length` (12 or more) hex digits: this process's id, a per-process counter and random digits. Unique among the
 * live processes of a host; across hosts sharing a directory the random part makes a clash unlikely, and every
 * caller creates the file with O_EXCL, so a clash fails the open instead of sharing a file.
 */
export function temporaryNameHex(length: number): string {
  if (length < 12) throw new RangeError(`temporary name digits: at least 12, got ${length}`);
  const pid = (process.pid & 0xffffff).toString(16).padStart(6, '0');
  const count = (issued++ & 0xffff).toString(16).padStart(4, '0');
  let random = '';
  while (random.length < length - 10) random += Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return `${pid}${count}${random}`.slice(0, length);
}
