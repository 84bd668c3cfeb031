// Pins the Go value parsers settings rely on: strconv booleans/integers/floats, time.ParseDuration, viper sizes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatGoDuration,
  formatGoFloat,
  goAtoi,
  lenientGoBool,
  lenientGoInt,
  parseGoBool,
  parseGoDuration,
  parseGoFloat,
  parseGoInt,
  viperSizeInBytes,
} from '../../src/config/go-values.ts';

const SECOND = 1e9;

test('booleans accept exactly the twelve strconv.ParseBool spellings', () => {
  for (const text of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseGoBool(text), true, text);
  for (const text of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parseGoBool(text), false, text);
  assert.throws(() => parseGoBool('yes'), { message: 'strconv.ParseBool: parsing "yes": invalid syntax' });
  assert.throws(() => parseGoBool('tRUE'), { message: 'strconv.ParseBool: parsing "tRUE": invalid syntax' });
});

test('lenient booleans read garbage as false', () => {
  assert.equal(lenientGoBool('yes'), false);
  assert.equal(lenientGoBool(undefined), false);
  assert.equal(lenientGoBool('T'), true);
});

test('durations accept Go syntax: units, fractions, sums, signs and bare 0', () => {
  assert.equal(parseGoDuration('300ms'), 0.3 * SECOND);
  assert.equal(parseGoDuration('1h30m'), 5400 * SECOND);
  assert.equal(parseGoDuration('1.5s'), 1.5 * SECOND);
  assert.equal(parseGoDuration('-1s'), -SECOND);
  assert.equal(parseGoDuration('+2m'), 120 * SECOND);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('-0'), 0);
  assert.equal(parseGoDuration('.5s'), 0.5 * SECOND);
  assert.equal(parseGoDuration('1.s'), SECOND);
  assert.equal(parseGoDuration('10ns'), 10);
  assert.equal(parseGoDuration('3us'), 3000);
  assert.equal(parseGoDuration('3\u00b5s'), 3000);
  assert.equal(parseGoDuration('3\u03bcs'), 3000);
  assert.equal(parseGoDuration('1h1m1s1ms'), 3661.001 * SECOND);
});

test('duration errors carry Go texts', () => {
  assert.throws(() => parseGoDuration(''), { message: 'time: invalid duration ""' });
  assert.throws(() => parseGoDuration('abc'), { message: 'time: invalid duration "abc"' });
  assert.throws(() => parseGoDuration('1'), { message: 'time: missing unit in duration "1"' });
  assert.throws(() => parseGoDuration('30'), { message: 'time: missing unit in duration "30"' });
  assert.throws(() => parseGoDuration('1d'), { message: 'time: unknown unit "d" in duration "1d"' });
  assert.throws(() => parseGoDuration('5 s'), { message: 'time: unknown unit " s" in duration "5 s"' });
  assert.throws(() => parseGoDuration('.s'), { message: 'time: invalid duration ".s"' });
  assert.throws(() => parseGoDuration('9999999999h'), { message: 'time: invalid duration "9999999999h"' });
  assert.throws(() => parseGoDuration('1\u00e9'), { message: 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"' });
});

test('durations print as Go prints them', () => {
  assert.equal(formatGoDuration(60 * SECOND), '1m0s');
  assert.equal(formatGoDuration(5400 * SECOND), '1h30m0s');
  assert.equal(formatGoDuration(1.5 * SECOND), '1.5s');
  assert.equal(formatGoDuration(0.3 * SECOND), '300ms');
  assert.equal(formatGoDuration(1500), '1.5\u00b5s');
  assert.equal(formatGoDuration(7), '7ns');
  assert.equal(formatGoDuration(0), '0s');
  assert.equal(formatGoDuration(-SECOND), '-1s');
});

test('integers follow Go base-0 syntax in lenient reads and base 10 in Atoi', () => {
  assert.equal(parseGoInt('0x10', 0), 16);
  assert.equal(parseGoInt('010', 0), 8);
  assert.equal(parseGoInt('0o17', 0), 15);
  assert.equal(parseGoInt('0b101', 0), 5);
  assert.equal(parseGoInt('1_000', 0), 1000);
  assert.equal(parseGoInt('-42', 0), -42);
  assert.throws(() => parseGoInt('08', 0), { message: 'strconv.ParseInt: parsing "08": invalid syntax' });
  assert.throws(() => parseGoInt('1__0', 0), { message: 'strconv.ParseInt: parsing "1__0": invalid syntax' });
  assert.throws(() => parseGoInt('9223372036854775808', 0), { message: 'strconv.ParseInt: parsing "9223372036854775808": value out of range' });
  assert.equal(goAtoi('+7'), 7);
  assert.throws(() => goAtoi('0x10'), { message: 'strconv.Atoi: parsing "0x10": invalid syntax' });
  assert.throws(() => goAtoi(' 1'), { message: 'strconv.Atoi: parsing " 1": invalid syntax' });
  assert.equal(lenientGoInt('4'), 4);
  assert.equal(lenientGoInt('four'), 0);
  assert.equal(lenientGoInt('4\n'), 0, 'viper.GetInt does not trim');
});

test('floats follow strconv.ParseFloat and print like Go', () => {
  assert.equal(parseGoFloat('0.5'), 0.5);
  assert.equal(parseGoFloat('1e3'), 1000);
  assert.equal(parseGoFloat('.25'), 0.25);
  assert.equal(parseGoFloat('-Inf'), -Infinity);
  assert.ok(Number.isNaN(parseGoFloat('NaN')));
  assert.throws(() => parseGoFloat('half'), { message: 'strconv.ParseFloat: parsing "half": invalid syntax' });
  assert.throws(() => parseGoFloat('1e400'), { message: 'strconv.ParseFloat: parsing "1e400": value out of range' });
  assert.equal(formatGoFloat(32), '32');
  assert.equal(formatGoFloat(1e21), '1000000000000000000000');
  assert.equal(formatGoFloat(1.5e-7), '0.00000015');
  assert.equal(formatGoFloat(-0.25), '-0.25');
});

test('sizes take b/kb/mb/gb suffixes in any case, powers of 1024, and read garbage as 0', () => {
  assert.equal(viperSizeInBytes('1mb'), 1024 * 1024);
  assert.equal(viperSizeInBytes('2 KB'), 2048);
  assert.equal(viperSizeInBytes('3Gb'), 3 * 1024 ** 3);
  assert.equal(viperSizeInBytes('4096'), 4096);
  assert.equal(viperSizeInBytes('10b'), 10);
  assert.equal(viperSizeInBytes('1b'), 0, 'viper quirk: a one-digit byte count is not stripped');
  assert.equal(viperSizeInBytes('lots'), 0);
  assert.equal(viperSizeInBytes('-5mb'), 0);
});
