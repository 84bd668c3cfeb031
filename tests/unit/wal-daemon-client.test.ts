// walg-daemon-client's command line: the same arguments, Go-style flags after them, and WAL-G's usage texts.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flagDefaults, parseClientArguments, usageText } from '../../src/daemon-client/arguments.ts';
import { MESSAGE_TYPE } from '../../src/wal/daemon-protocol.ts';

describe('walg-daemon-client arguments', () => {
  test('wal-push takes one argument and defaults to a 60 s timeout and a 5 s connection timeout', () => {
    const outcome = parseClientArguments(['/run/walg.sock', 'wal-push', '000000010000000000000001']);
    assert.equal(outcome.kind, 'request');
    if (outcome.kind !== 'request') return;
    assert.equal(outcome.request.socketPath, '/run/walg.sock');
    assert.equal(outcome.request.command.messageType, MESSAGE_TYPE.walPush);
    assert.deepEqual(outcome.request.messageArgs, ['000000010000000000000001']);
    assert.equal(outcome.request.timeoutMs, 60_000);
    assert.equal(outcome.request.connectionTimeoutMs, 5_000);
  });

  test('the command name is matched case-insensitively and Go flag spellings after the arguments are read', () => {
    const outcome = parseClientArguments(['s', 'WAL-FETCH', 'a', 'b', '--timeout=1m30s', '-connection-timeout', '250ms']);
    assert.equal(outcome.kind, 'request');
    if (outcome.kind !== 'request') return;
    assert.equal(outcome.request.command.name, 'wal-fetch');
    assert.deepEqual(outcome.request.messageArgs, ['a', 'b']);
    assert.equal(outcome.request.timeoutMs, 90_000);
    assert.equal(outcome.request.connectionTimeoutMs, 250);
  });

  test('flag parsing stops at the first extra positional argument, like Go', () => {
    const outcome = parseClientArguments(['s', 'wal-push', 'a', 'extra', '--timeout', '1s']);
    assert.equal(outcome.kind, 'request');
    if (outcome.kind === 'request') assert.equal(outcome.request.timeoutMs, 60_000);
  });

  test('missing command arguments name the command usage instead of the general one', () => {
    const outcome = parseClientArguments(['s', 'wal-fetch', 'a']);
    assert.equal(outcome.kind, 'usage');
    if (outcome.kind !== 'usage') return;
    assert.equal(outcome.error, 'not enough command arguments');
    assert.equal(
      usageText(outcome.error, outcome.commandUsage),
      'Error: not enough command arguments\n\nwalg-daemon-client is lightweight client for WAL-G daemon\n\nUsage:\n' +
        '  walg-daemon-client socket wal-fetch wal_name destination_filename [flags]\n\nFlags:\n',
    );
  });

  test('an unknown command and too few arguments get the general usage', () => {
    const unknown = parseClientArguments(['s', 'backup-push']);
    assert.equal(unknown.kind === 'usage' && unknown.error, 'unsupported command backup-push');
    const none = parseClientArguments(['s']);
    assert.equal(none.kind === 'usage' && none.error, 'not enough arguments');
    assert.match(usageText('not enough arguments', undefined), /\nArguments:\n {2}socket\t- name of unix socket/);
  });

  test('bad flags produce Go flag-package messages and its own usage output', () => {
    const undefinedFlag = parseClientArguments(['s', 'wal-push', 'a', '--retries', '3']);
    assert.equal(undefinedFlag.kind === 'usage' && undefinedFlag.error, 'flag provided but not defined: -retries');
    assert.equal(undefinedFlag.kind === 'usage' && undefinedFlag.flagOutput, `flag provided but not defined: -retries\nUsage:\n${flagDefaults()}`);
    const badValue = parseClientArguments(['s', 'wal-push', 'a', '--timeout', 'soon']);
    assert.equal(badValue.kind === 'usage' && badValue.error, 'invalid value "soon" for flag -timeout: parse error');
    const noValue = parseClientArguments(['s', 'wal-push', 'a', '--timeout']);
    assert.equal(noValue.kind === 'usage' && noValue.error, 'flag needs an argument: -timeout');
  });

  test('flag defaults print as Go prints durations', () => {
    assert.equal(
      flagDefaults(),
      '  -connection-timeout duration\n    \tdaemon socket connection timeout (default 5s)\n' +
        '  -timeout duration\n    \tdaemon operation execution timeout (default 1m0s)\n',
    );
  });
});
