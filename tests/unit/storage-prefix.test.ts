// Storage prefixes: bucket and root path for every kind, and WAL-G's (Go net/url's) error texts.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STORAGE_KINDS_IN_ORDER,
  StoragePrefixError,
  parseGoUrl,
  parseStoragePrefix,
  prefixSettingName,
} from '../../src/storage/prefix.ts';
import type { PrefixOptions, StorageKind } from '../../src/storage/prefix.ts';

function parsed(kind: StorageKind, value: string, options?: PrefixOptions): { bucket: string; path: string } {
  const { bucket, path } = parseStoragePrefix(kind, value, options);
  return { bucket, path };
}

function failure(kind: StorageKind, value: string, options?: PrefixOptions): string {
  try {
    parseStoragePrefix(kind, value, options);
  } catch (error) {
    assert.ok(error instanceof StoragePrefixError, `unexpected error type: ${String(error)}`);
    return error.message;
  }
  assert.fail(`${value} was accepted`);
}

describe('S3 and OSS prefixes', () => {
  test('bucket is the host; the path loses its outer slashes and gets one trailing slash', () => {
    assert.deepEqual(parsed('s3', 's3://bucket/path/to'), { bucket: 'bucket', path: 'path/to/' });
    assert.deepEqual(parsed('s3', 's3://bucket/path/to/'), { bucket: 'bucket', path: 'path/to/' });
    assert.deepEqual(parsed('s3', 's3://bucket//a//b//'), { bucket: 'bucket', path: 'a//b/' });
    assert.deepEqual(parsed('oss', 'oss://bucket/p/'), { bucket: 'bucket', path: 'p/' });
  });

  test('a bare bucket has an empty root path', () => {
    assert.deepEqual(parsed('s3', 's3://bucket'), { bucket: 'bucket', path: '' });
    assert.deepEqual(parsed('s3', 's3://bucket/'), { bucket: 'bucket', path: '' });
    assert.deepEqual(parsed('s3', 's3://bucket///'), { bucket: 'bucket', path: '' });
  });

  test('port stays in the bucket, userinfo is dropped, scheme case and kind are not checked', () => {
    assert.deepEqual(parsed('s3', 's3://minio:9000/backups'), { bucket: 'minio:9000', path: 'backups/' });
    assert.deepEqual(parsed('s3', 's3://key:secret@bucket/x'), { bucket: 'bucket', path: 'x/' });
    assert.deepEqual(parsed('s3', 'S3://Bucket/X'), { bucket: 'Bucket', path: 'X/' });
    assert.deepEqual(parsed('s3', 'gs://not-checked/p'), { bucket: 'not-checked', path: 'p/' });
    assert.deepEqual(parsed('s3', 's3://[::1]:9000/x'), { bucket: '[::1]:9000', path: 'x/' });
  });

  test('the path is percent-decoded; query and fragment are cut off', () => {
    assert.deepEqual(parsed('s3', 's3://bucket/a%20b/c+d'), { bucket: 'bucket', path: 'a b/c+d/' });
    assert.deepEqual(parsed('s3', 's3://bucket/%C5%BC%C3%B3%C5%82w'), { bucket: 'bucket', path: 'żółw/' });
    assert.deepEqual(parsed('s3', 's3://bucket/x?versionId=1#frag'), { bucket: 'bucket', path: 'x/' });
    assert.deepEqual(parsed('s3', 's3://bucket/x?'), { bucket: 'bucket', path: 'x/' });
    assert.deepEqual(parsed('s3', 's3://bucket/x#a?b'), { bucket: 'bucket', path: 'x/' });
  });
});

describe('GCS prefixes', () => {
  test('normalized (the default): like S3', () => {
    assert.deepEqual(parsed('gs', 'gs://bucket//a//b/'), { bucket: 'bucket', path: 'a//b/' });
    assert.deepEqual(parsed('gs', 'gs://bucket', { gcsNormalizePrefix: true }), { bucket: 'bucket', path: '' });
  });

  test('GCS_NORMALIZE_PREFIX=false strips one leading slash at a time and keeps the rest', () => {
    const off = { gcsNormalizePrefix: false };
    assert.deepEqual(parsed('gs', 'gs://bucket/a/b', off), { bucket: 'bucket', path: 'a/b/' });
    assert.deepEqual(parsed('gs', 'gs://bucket//a//b', off), { bucket: 'bucket', path: 'a//b/' });
    assert.deepEqual(parsed('gs', 'gs://bucket///a', off), { bucket: 'bucket', path: '/a/' });
    assert.deepEqual(parsed('gs', 'gs://bucket/a//', off), { bucket: 'bucket', path: 'a//' });
    assert.deepEqual(parsed('gs', 'gs://bucket//', off), { bucket: 'bucket', path: '' });
    assert.deepEqual(parsed('gs', 'gs://bucket', off), { bucket: 'bucket', path: '' });
  });
});

describe('Azure, Swift and SSH prefixes', () => {
  test('Azure and Swift: container and a trailing-slash path', () => {
    assert.deepEqual(parsed('az', 'azure://container/path'), { bucket: 'container', path: 'path/' });
    assert.deepEqual(parsed('az', 'azure://container'), { bucket: 'container', path: '' });
    assert.deepEqual(parsed('swift', 'swift://container//path/'), { bucket: 'container', path: 'path/' });
  });

  test('SSH keeps the absolute path untrimmed and adds a trailing slash', () => {
    assert.deepEqual(parsed('ssh', 'ssh://backup-host/var/backups'), { bucket: 'backup-host', path: '/var/backups/' });
    assert.deepEqual(parsed('ssh', 'ssh://user@backup-host:2222/x/'), { bucket: 'backup-host:2222', path: '/x/' });
    assert.deepEqual(parsed('ssh', 'ssh://host//double'), { bucket: 'host', path: '//double/' });
    assert.deepEqual(parsed('ssh', 'ssh://host/'), { bucket: 'host', path: '/' });
    assert.deepEqual(parsed('ssh', 'ssh://host'), { bucket: 'host', path: '' });
  });
});

describe('file prefixes', () => {
  test('a path is used as given; only a leading file://localhost is removed', () => {
    assert.deepEqual(parsed('file', '/var/backups/'), { bucket: '', path: '/var/backups/' });
    assert.deepEqual(parsed('file', 'relative/dir'), { bucket: '', path: 'relative/dir' });
    assert.deepEqual(parsed('file', 'file://localhost/tmp'), { bucket: '', path: '/tmp' });
    assert.deepEqual(parsed('file', 'file:///tmp'), { bucket: '', path: 'file:///tmp' });
  });
});

describe('prefix errors, in WAL-G words', () => {
  test('no scheme or no host', () => {
    assert.equal(
      failure('s3', 'bucket/path'),
      'extract bucket and path from prefix "bucket/path": missing url scheme="" and/or host=""',
    );
    assert.equal(failure('s3', 's3:bucket'), 'extract bucket and path from prefix "s3:bucket": missing url scheme="s3" and/or host=""');
    assert.equal(failure('oss', 'oss:///path'), 'extract bucket and path from prefix "oss:///path": missing url scheme="oss" and/or host=""');
    assert.equal(failure('s3', '*'), 'extract bucket and path from prefix "*": missing url scheme="" and/or host=""');
    assert.equal(failure('s3', ''), 'extract bucket and path from prefix "": missing url scheme="" and/or host=""');
  });

  test('each kind words its context like its WAL-G adapter', () => {
    assert.equal(failure('gs', 'bucket'), 'extract bucket and path from prefix "bucket": missing url scheme="" and/or host=""');
    assert.equal(
      failure('gs', 'bucket', { gcsNormalizePrefix: false }),
      'extract bucket and path from prefix "bucket": missing url scheme="" and/or host=""',
    );
    assert.equal(
      failure('az', 'container/path'),
      'extract container and path from prefix "container/path": missing url scheme="" and/or host=""',
    );
    assert.equal(failure('swift', 'c'), 'extract container and path from prefix "c": missing url scheme="" and/or host=""');
    assert.equal(failure('ssh', 'host/path'), 'parse SSH storage prefix "host/path": missing url scheme="" and/or host=""');
  });

  test('url.Parse failures are wrapped as failed to parse url', () => {
    const prefix = 'extract bucket and path from prefix';
    assert.equal(failure('s3', '://bucket'), `${prefix} "://bucket": failed to parse url '://bucket': parse "://bucket": missing protocol scheme`);
    assert.equal(
      failure('s3', 's3://bucket/%zz'),
      `${prefix} "s3://bucket/%zz": failed to parse url 's3://bucket/%zz': parse "s3://bucket/%zz": invalid URL escape "%zz"`,
    );
    assert.equal(
      failure('s3', 's3://bucket/abc%2'),
      `${prefix} "s3://bucket/abc%2": failed to parse url 's3://bucket/abc%2': parse "s3://bucket/abc%2": invalid URL escape "%2"`,
    );
    assert.equal(
      failure('s3', 's3://buc ket/x'),
      `${prefix} "s3://buc ket/x": failed to parse url 's3://buc ket/x': parse "s3://buc ket/x": invalid character " " in host name`,
    );
    assert.equal(
      failure('s3', 's3://bucket:port/x'),
      `${prefix} "s3://bucket:port/x": failed to parse url 's3://bucket:port/x': parse "s3://bucket:port/x": invalid port ":port" after host`,
    );
    assert.equal(
      failure('s3', 's3://bucket%41/x'),
      `${prefix} "s3://bucket%41/x": failed to parse url 's3://bucket%41/x': parse "s3://bucket%41/x": invalid URL escape "%41"`,
    );
    assert.equal(
      failure('s3', '1bucket:/x'),
      `${prefix} "1bucket:/x": failed to parse url '1bucket:/x': parse "1bucket:/x": first path segment in URL cannot contain colon`,
    );
    assert.equal(
      failure('s3', 's3://us er@bucket/x'),
      `${prefix} "s3://us er@bucket/x": failed to parse url 's3://us er@bucket/x': parse "s3://us er@bucket/x": net/url: invalid userinfo`,
    );
  });

  test('control characters are refused, quoted Go-style', () => {
    assert.equal(
      failure('s3', 's3://bucket/x\n'),
      'extract bucket and path from prefix "s3://bucket/x\\n": failed to parse url \'s3://bucket/x\n\': ' +
        'parse "s3://bucket/x\\n": net/url: invalid control character in URL',
    );
  });

  test('a bad fragment is reported against the whole URL, other errors against the part before #', () => {
    assert.equal(
      failure('s3', 's3://b/x#%zz'),
      'extract bucket and path from prefix "s3://b/x#%zz": failed to parse url \'s3://b/x#%zz\': parse "s3://b/x#%zz": invalid URL escape "%zz"',
    );
    assert.equal(
      failure('s3', 's3://b/%zz#frag'),
      'extract bucket and path from prefix "s3://b/%zz#frag": failed to parse url \'s3://b/%zz#frag\': parse "s3://b/%zz": invalid URL escape "%zz"',
    );
  });

  test('square brackets hold only IPv6 addresses (Go 1.25.2 and later)', () => {
    assert.match(failure('s3', 's3://[1.2.3.4]/x'), /parse "s3:\/\/\[1\.2\.3\.4\]\/x": invalid IP-literal$/);
    assert.match(failure('s3', 's3://a[b]/x'), /invalid IP-literal$/);
    assert.match(failure('s3', 's3://[::1/x'), /missing '\]' in host$/);
    assert.match(failure('s3', 's3://[::1]x/y'), /invalid port "x" after host$/);
  });
});

describe('Go url.Parse subset', () => {
  test('scheme is lower-cased; a rootless rest after a scheme has no host', () => {
    assert.deepEqual(parseGoUrl('S3://b/p'), { scheme: 's3', host: 'b', path: '/p' });
    assert.deepEqual(parseGoUrl('s3:b/p'), { scheme: 's3', host: '', path: '' });
    assert.deepEqual(parseGoUrl('file:///tmp/x'), { scheme: 'file', host: '', path: '/tmp/x' });
    assert.deepEqual(parseGoUrl('/just/a/path'), { scheme: '', host: '', path: '/just/a/path' });
    assert.deepEqual(parseGoUrl('//host/p'), { scheme: '', host: 'host', path: '/p' });
  });
});

describe('prefix settings', () => {
  test('kinds are tried in WAL-G order and named after their settings', () => {
    assert.deepEqual(STORAGE_KINDS_IN_ORDER.map(prefixSettingName), [
      'WALG_OSS_PREFIX',
      'WALG_S3_PREFIX',
      'WALG_FILE_PREFIX',
      'WALG_GS_PREFIX',
      'WALG_AZ_PREFIX',
      'WALG_SWIFT_PREFIX',
      'WALG_SSH_PREFIX',
    ]);
  });
});
