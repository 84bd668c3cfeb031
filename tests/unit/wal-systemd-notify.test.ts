// The daemon's systemd watchdog message really arrives as a datagram on NOTIFY_SOCKET (received here with perl,
// since Node has no Unix datagram sockets), and a missing socket is a readable error.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sendWithSystemdNotify, WATCHDOG_STATE } from '../../src/wal/systemd-notify.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const haveTools = spawnSync('sh', ['-c', 'command -v perl && command -v systemd-notify']).status === 0;

test('WATCHDOG=1 reaches the NOTIFY_SOCKET datagram socket', { skip: haveTools ? false : 'needs perl and systemd-notify' }, async () => {
  const socketPath = join(makeTempDir({ prefix: 'walnut-notify-' }), 'notify.sock');
  const receiver = spawn('perl', [
    '-MSocket',
    '-e',
    'socket(S,AF_UNIX,SOCK_DGRAM,0) or die; bind(S,pack_sockaddr_un($ARGV[0])) or die "$!"; print "ready\\n"; $|=1; recv(S,$m,100,0); print $m',
    socketPath,
  ]);
  let output = '';
  receiver.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise((resolve) => receiver.on('close', resolve));
  try {
    for (let i = 0; i < 200 && !output.includes('ready'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(existsSync(socketPath), 'the receiver should have bound its socket');
    await sendWithSystemdNotify(socketPath, WATCHDOG_STATE);
    await exited;
    assert.equal(output, `ready\n${WATCHDOG_STATE}`);
  } finally {
    receiver.kill();
  }
});

test('a NOTIFY_SOCKET nobody listens on fails with the reason', { skip: haveTools ? false : 'needs systemd-notify' }, async () => {
  const socketPath = join(makeTempDir({ prefix: 'walnut-notify-' }), 'nobody.sock');
  await assert.rejects(sendWithSystemdNotify(socketPath, WATCHDOG_STATE), /failed connect to service: .*(No such file or directory|Connection refused)/);
});
