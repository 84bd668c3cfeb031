// Shell completion: the `__complete` candidates and directives (cobra v1.4.0's protocol) and the generated scripts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { completeCommandLine, directiveName } from '../../src/cli/complete.ts';
import { bashCompletionScript, zshCompletionScript } from '../../src/cli/completion-scripts.ts';

function names(candidates: readonly string[]): string[] {
  return candidates.map((candidate) => candidate.split('\t')[0]);
}

test('command names complete by prefix with their descriptions, hidden commands left out', () => {
  const completion = completeCommandLine(['wal-']);
  assert.deepEqual(names(completion.candidates), ['wal-fetch', 'wal-push', 'wal-receive', 'wal-restore', 'wal-show', 'wal-verify']);
  assert.equal(completion.candidates[1], 'wal-push\tUploads a WAL file to storage');
  assert.equal(completion.directive, 4);
});

test('sub-commands of a group complete after the group name', () => {
  assert.deepEqual(names(completeCommandLine(['st', 'check', '']).candidates), ['read', 'write']);
  assert.deepEqual(names(completeCommandLine(['delete', 'e']).candidates), ['everything']);
});

test('flag names complete after a dash, hidden per-setting flags included as in WAL-G', () => {
  const completion = completeCommandLine(['backup-push', '--ta']);
  assert.deepEqual(completion.candidates, [
    '--target-storage\tName of the storage to execute the command only for. Use "default" to select the primary one.',
  ]);
  assert.equal(completion.directive, 4);
  assert.ok(names(completeCommandLine(['wal-push', '--walg-s3-p']).candidates).includes('--walg-s3-prefix'));
  const short = names(completeCommandLine(['backup-push', '-']).candidates);
  assert.ok(short.includes('-p') && short.includes('--permanent') && short.includes('--config'));
});

test('a flag already given is not offered again', () => {
  assert.deepEqual(names(completeCommandLine(['backup-list', '--json', '--js']).candidates), []);
});

test('valid arguments complete for completion, and required flags are offered for copy', () => {
  const shells = completeCommandLine(['completion', '']);
  assert.deepEqual(shells.candidates, ['bash', 'zsh']);
  assert.equal(shells.directive, 4);
  const copy = completeCommandLine(['copy', '']);
  assert.deepEqual(names(copy.candidates), ['--from', '-f', '--to', '-t']);
  assert.equal(copy.directive, 0);
});

test('a flag value falls back to file completion', () => {
  const completion = completeCommandLine(['wal-push', '--target-storage', '']);
  assert.deepEqual(completion.candidates, []);
  assert.equal(completion.directive, 0);
});

test('help completes command paths', () => {
  assert.deepEqual(names(completeCommandLine(['help', 'delete', 'r']).candidates), ['retain']);
});

test('an unknown command reports cobra\'s problem and the default directive', () => {
  const completion = completeCommandLine(['nosuch', '']);
  assert.equal(completion.problem, 'Unable to find a command for arguments: [nosuch]');
  assert.equal(completion.directive, 0);
});

test('directive names are printed as cobra prints them', () => {
  assert.equal(directiveName(0), 'ShellCompDirectiveDefault');
  assert.equal(directiveName(6), 'ShellCompDirectiveNoSpace, ShellCompDirectiveNoFileComp');
});

test('the bash completion script is valid bash and completes through __complete', () => {
  const script = bashCompletionScript('wal-g');
  const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  assert.match(script, /__complete "\$\{words\[@\]:1:word_index-1\}" "\$current"/);
  assert.match(script, /\ncomplete -o default -F _wal_g_complete wal-g\n$/);
});

test('the zsh completion script declares #compdef and completes through __complete', () => {
  const script = zshCompletionScript('wal-g');
  assert.match(script, /^#compdef wal-g\n/);
  assert.match(script, /__complete "\$\{request\[@\]\}"/);
  const zsh = spawnSync('zsh', ['-n'], { input: script, encoding: 'utf8' });
  if (zsh.error === undefined) assert.equal(zsh.status, 0, zsh.stderr);
});
