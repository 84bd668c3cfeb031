// Every command of WAL-G v3.0.8's PostgreSQL binary as data: use line, descriptions, flags, argument rule,
// annotations and a lazy handler loader. Parsing, help, completion and dispatch all read this one table.

import {
  validateDeleteBeforeArgs,
  validateDeleteEverythingArgs,
  validateDeleteGarbageArgs,
  validateDeleteRetainArgs,
  validateDeleteTargetArgs,
  validateWalVerifyArgs,
  type ArgsRule,
} from './args.ts';
import type { CommandContext, CommandModule, FlagValue } from './context.ts';
import { WalgError } from '../errors.ts';

export type FlagType = 'bool' | 'string' | 'int' | 'uint' | 'uint32' | 'uint64' | 'stringSlice' | 'duration';

export interface FlagSpec {
  /** Long name without dashes. */
  readonly name: string;
  /** One letter, or absent. */
  readonly shorthand?: string;
  readonly type: FlagType;
  /** Typed default (see FlagValue); absent means the type's zero value. */
  readonly default?: FlagValue;
  /** Go's printed default when it differs from what `default` would print (e.g. math.MaxInt). */
  readonly defaultText?: string;
  /** pflag usage text; a `backquoted` word becomes the value placeholder in help. */
  readonly usage: string;
  readonly hidden?: boolean;
  /** cobra MarkFlagRequired: checked after the pre-run, `required flag(s) "a", "b" not set`. */
  readonly required?: boolean;
  /** For the hidden per-setting flags: the setting the flag overrides (e.g. WALG_S3_PREFIX). */
  readonly settingName?: string;
}

export interface CommandAnnotations {
  /** WAL-G's `NoStorage`: the root pre-run skips the "any storage configured" check. */
  readonly noStorage?: boolean;
  /**
   * The command (and its sub-commands) replaces the root pre-run: no storage check, no WALG_TARGET_STORAGE
   * fallback. cobra runs only the nearest ancestor's persistent pre-run.
   */
  readonly ownPreRun?: boolean;
}

export interface CommandSpec {
  /** cobra `Use`: the first word is the command name. */
  readonly use: string;
  readonly short: string;
  readonly long?: string;
  readonly example?: string;
  readonly aliases?: readonly string[];
  readonly hidden?: boolean;
  /** Absent: cobra's legacy rule (unknown-command error on the root, anything goes elsewhere). */
  readonly args?: ArgsRule;
  /** cobra `ValidArgs`: completion candidates, and the allowed values for an `exactValid` rule. */
  readonly validArgs?: readonly string[];
  readonly flags?: readonly FlagSpec[];
  readonly persistentFlags?: readonly FlagSpec[];
  readonly annotations?: CommandAnnotations;
  /** The replacement pre-run of an `ownPreRun` command, if it does anything (st transfer validates its flags). */
  readonly preRun?: (context: CommandContext) => void;
  readonly disableFlagsInUseLine?: boolean;
  /** Arguments reach the handler untouched (the shell-completion request command). */
  readonly disableFlagParsing?: boolean;
  /** cobra's `__complete` exists only while it is the command being run. */
  readonly onlyWhenInvoked?: boolean;
  /** Special usage/help layout of `wal-g flags`. */
  readonly flagsListing?: boolean;
  /** Absent for pure groups, which print their help. */
  readonly load?: () => Promise<CommandModule>;
  /** In registration order, which cobra's "Did you mean" suggestions follow; help lists them sorted. */
  readonly children?: readonly CommandSpec[];
}

// ---------------------------------------------------------------------------------------------------------
// Small builders that keep the table readable

interface FlagOptions {
  readonly shorthand?: string;
  readonly hidden?: boolean;
  readonly required?: boolean;
  readonly defaultText?: string;
}

function boolFlag(name: string, usage: string, options: FlagOptions = {}): FlagSpec {
  return { name, type: 'bool', default: false, usage, ...options };
}

function stringFlag(name: string, usage: string, defaultValue = '', options: FlagOptions = {}): FlagSpec {
  return { name, type: 'string', default: defaultValue, usage, ...options };
}

function exactArgs(count: number): ArgsRule {
  return { kind: 'exact', count };
}

const NO_ARGS: ArgsRule = { kind: 'none' };

const TARGET_STORAGE_FLAG = stringFlag(
  'target-storage',
  'Name of the storage to execute the command only for. Use "default" to select the primary one.',
);

/** Go's math.MaxInt, the "unlimited" default of st transfer's counters. */
const GO_MAX_INT = '9223372036854775807';

// ---------------------------------------------------------------------------------------------------------
// Texts shared by several commands

const BACKUP_FETCH_SHORT = 'Fetches a backup from storage';
const BACKUP_LIST_SHORT = 'Prints full list of backups from which recovery is available';
const WAL_FETCH_SHORT = 'Fetches a WAL file from storage';
const WAL_SHOW_LONG =
  'Show information such as missing segments for each timeline found in storage. ' +
  'Optionally, show available backups for each timeline.';
const DETAILED_JSON_FLAG = boolFlag('detailed-json', 'Output detailed information in JSON format.');

const BRIEF_LIST_FLAGS: readonly FlagSpec[] = [
  boolFlag('pretty', 'Prints more readable output'),
  boolFlag('json', 'Prints output in json format'),
  boolFlag('detail', 'Prints extra backup details'),
];

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL commands (cmd/pg)

const backupFetch: CommandSpec = {
  use: 'backup-fetch destination_directory [backup_name | --target-user-data <data>]',
  short: BACKUP_FETCH_SHORT,
  args: { kind: 'range', min: 1, max: 2 },
  flags: [
    stringFlag(
      'mask',
      'Fetches only files which path relative to destination_directory\n' +
        'matches given shell file pattern.\n' +
        'For information about pattern syntax view: https://golang.org/pkg/path/filepath/#Match',
    ),
    stringFlag('restore-spec', 'Path to file containing tablespace restore specification'),
    boolFlag('reverse-unpack', 'Unpack delta backups in reverse order (beta feature)'),
    boolFlag('skip-redundant-tars', 'Skip tars with no useful data (requires reverse delta unpack)'),
    stringFlag('target-user-data', 'Fetch storage backup which has the specified user data'),
    {
      name: 'restore-only',
      type: 'stringSlice',
      default: [],
      usage:
        '[Experimental] Downloads only databases or tables specified by passed names.\n' +
        "Separate parameters with comma. Use 'database' or 'database/namespace.table' as a parameter ('public' namespace can be omitted).  \n" +
        'Sets reverse delta unpack & skip redundant tars options automatically. Always downloads system databases and tables.',
    },
    TARGET_STORAGE_FLAG,
  ],
  load: () => import('./commands/backup-fetch.ts'),
};

const backupList: CommandSpec = {
  use: 'backup-list',
  short: BACKUP_LIST_SHORT,
  args: NO_ARGS,
  flags: [
    boolFlag('pretty', 'Prints more readable output in table format'),
    boolFlag('json', 'Prints output in JSON format, multiline and indented if combined with --pretty flag'),
    boolFlag('detail', 'Prints extra DB-specific backup details'),
    TARGET_STORAGE_FLAG,
  ],
  load: () => import('./commands/backup-list.ts'),
};

const backupMark: CommandSpec = {
  use: 'backup-mark backup_name',
  short: 'Marks a backup permanent or impermanent',
  long:
    'Marks a backup permanent by default, or impermanent when flag is provided.\n' +
    '\tPermanent backups are prevented from being removed when running delete.',
  args: exactArgs(1),
  flags: [boolFlag('impermanent', 'Marks a backup impermanent', { shorthand: 'i' })],
  load: () => import('./commands/backup-mark.ts'),
};

const backupPush: CommandSpec = {
  use: 'backup-push db_directory',
  short: 'Makes backup and uploads it to storage',
  args: { kind: 'max', count: 1 },
  flags: [
    boolFlag('permanent', 'Pushes permanent backup', { shorthand: 'p' }),
    boolFlag('full', 'Make full backup-push', { shorthand: 'f' }),
    boolFlag('verify', 'Verify page checksums', { shorthand: 'v' }),
    boolFlag('store-all-corrupt', 'Store all corrupt blocks found during page checksum verification', { shorthand: 's' }),
    boolFlag('rating-composer', 'Use rating tar composer (beta)', { shorthand: 'r' }),
    boolFlag('copy-composer', 'Use copy tar composer (beta)', { shorthand: 'c' }),
    boolFlag('database-composer', 'Use database tar composer (experimental)', { shorthand: 'b' }),
    stringFlag('delta-from-name', 'Select the backup specified by name as the target for the delta backup'),
    stringFlag('delta-from-user-data', 'Select the backup specified by UserData as the target for the delta backup'),
    stringFlag('add-user-data', 'Write the provided user data to the backup sentinel and metadata files.'),
    boolFlag('without-files-metadata', 'Do not track files metadata, significantly reducing memory usage'),
    // Walnut-only (not in WAL-G): a delta's changed blocks from PostgreSQL 17+ WAL summaries.
    boolFlag('delta-from-wal-summaries', 'Take the delta changed blocks from PostgreSQL 17+ WAL summaries (walnut only)'),
    TARGET_STORAGE_FLAG,
  ],
  load: () => import('./commands/backup-push.ts'),
};

const catchupFetch: CommandSpec = {
  use: 'catchup-fetch PGDATA backup_name',
  short: 'Fetches an incremental backup from storage',
  args: exactArgs(2),
  flags: [boolFlag('use-new-unwrap', 'Use the new implementation of catchup unwrap (beta)')],
  load: () => import('./commands/catchup-fetch.ts'),
};

const catchupList: CommandSpec = {
  use: 'catchup-list',
  short: 'Prints available incremental backups',
  args: NO_ARGS,
  flags: BRIEF_LIST_FLAGS,
  load: () => import('./commands/catchup-list.ts'),
};

const catchupPush: CommandSpec = {
  use: 'catchup-push PGDATA --from-lsn LSN',
  short: 'Creates incremental backup from lsn',
  args: exactArgs(1),
  flags: [{ name: 'from-lsn', type: 'uint64', default: 0n, usage: 'LSN to start incremental backup' }],
  load: () => import('./commands/catchup-push.ts'),
};

const catchupReceive: CommandSpec = {
  use: 'catchup-receive PGDATA port_number',
  short: 'Receive an incremental backup from another instance',
  args: exactArgs(2),
  annotations: { noStorage: true },
  load: () => import('./commands/catchup-receive.ts'),
};

const catchupSend: CommandSpec = {
  use: 'catchup-send PGDATA host:port',
  short: 'Sends incremental backup to standby',
  args: exactArgs(2),
  annotations: { noStorage: true },
  load: () => import('./commands/catchup-send.ts'),
};

const copy: CommandSpec = {
  use: 'copy',
  short: 'copy specific or all backups',
  long: 'Copy backup(s) from one storage to another according to configs (with history by default)',
  args: exactArgs(0),
  flags: [
    stringFlag('backup-name', 'Copy specific backup', '', { shorthand: 'b' }),
    stringFlag('to', 'Storage config to where should copy backup', '', { shorthand: 't', required: true }),
    stringFlag('from', 'Storage config from where should copy backup', '', { shorthand: 'f', required: true }),
    boolFlag(
      'with-history',
      'If set - copy WALs older than backup finish_lsn. If not - copy only WALs from start_lsn to finish_lsn',
      { shorthand: 'w' },
    ),
  ],
  annotations: { ownPreRun: true },
  load: () => import('./commands/copy.ts'),
};

const daemon: CommandSpec = {
  use: 'daemon daemon_socket_path',
  short: 'Runs WAL-G in daemon mode which executes commands sent from the lightweight walg-daemon-client.',
  args: exactArgs(1),
  load: () => import('./commands/daemon.ts'),
};

const deleteGroup: CommandSpec = {
  use: 'delete',
  short: 'Clears old backups and WALs',
  persistentFlags: [
    boolFlag('confirm', 'Confirms backup deletion'),
    boolFlag('use-sentinel-time', 'Use backup creation time from sentinel for backups ordering.'),
  ],
  children: [
    {
      use: 'retain [FULL|FIND_FULL] backup_count',
      short: '',
      example:
        '  retain 5                      keep 5 backups\n' +
        '  retain FULL 5                 keep 5 full backups and all deltas of them\n' +
        '  retain FIND_FULL 5            find necessary full for 5th and keep everything after it\n' +
        '  retain 5 --after 2019-12-12T12:12:12   keep 5 most recent backups and backups made after 2019-12-12 12:12:12',
      validArgs: ['FULL', 'FIND_FULL'],
      args: { kind: 'custom', validate: validateDeleteRetainArgs },
      flags: [stringFlag('after', 'Set the time after which retain backups', '', { shorthand: 'a' })],
      load: () => import('./commands/delete-retain.ts'),
    },
    {
      use: 'before [FIND_FULL] backup_name|timestamp',
      short: '',
      example:
        '  before base_0123              keep everything after base_0123 including itself\n' +
        '  before FIND_FULL base_0123    keep everything after the base of base_0123',
      args: { kind: 'custom', validate: validateDeleteBeforeArgs },
      load: () => import('./commands/delete-before.ts'),
    },
    {
      use: 'everything [FORCE]',
      short: '',
      example:
        '  everything                \n' +
        '\tdelete every backup only if there is no permanent backups\n' +
        '  everything FORCE          delete every backup include permanents',
      validArgs: ['FORCE'],
      args: { kind: 'custom', validate: validateDeleteEverythingArgs },
      load: () => import('./commands/delete-everything.ts'),
    },
    {
      use: 'target [FIND_FULL] backup_name | --target-user-data <data>',
      short: '',
      example:
        '  target base_0000000100000000000000C4\tdelete base backup by name\n' +
        '  target --target-user-data "{ \\"x\\": [3], \\"y\\": 4 }"\tdelete backup specified by user data\n' +
        '  target base_0000000100000000000000C9_D_0000000100000000000000C4\tdelete delta backup and all dependant delta backups \n' +
        '  target FIND_FULL base_0000000100000000000000C9_D_0000000100000000000000C4\tdelete delta backup and all delta backups with the same base backup',
      args: { kind: 'custom', validate: validateDeleteTargetArgs },
      flags: [stringFlag('target-user-data', 'delete storage backup which has the specified user data')],
      load: () => import('./commands/delete-target.ts'),
    },
    {
      use: 'garbage [ARCHIVES|BACKUPS]',
      short: '',
      example:
        '  garbage           Deletes outdated WAL archives and leftover backups files from storage\n' +
        '  garbage ARCHIVES  Deletes only outdated WAL archives from storage\n' +
        '  garbage BACKUPS   Deletes only leftover backups files from storage',
      args: { kind: 'custom', validate: validateDeleteGarbageArgs },
      load: () => import('./commands/delete-garbage.ts'),
    },
  ],
};

const pgbackrestGroup: CommandSpec = {
  use: 'pgbackrest',
  short: 'Interact with pgbackrest backups (beta)',
  children: [
    {
      use: 'backup-fetch destination-directory backup-name',
      short: BACKUP_FETCH_SHORT,
      args: exactArgs(2),
      load: () => import('./commands/pgbackrest-backup-fetch.ts'),
    },
    {
      use: 'backup-list',
      short: BACKUP_LIST_SHORT,
      args: NO_ARGS,
      flags: BRIEF_LIST_FLAGS,
      load: () => import('./commands/pgbackrest-backup-list.ts'),
    },
    {
      use: 'wal-fetch wal_name destination_filename',
      short: WAL_FETCH_SHORT,
      args: exactArgs(2),
      load: () => import('./commands/pgbackrest-wal-fetch.ts'),
    },
    {
      use: 'wal-show',
      // WAL-G passes its use-line constant as the description here, so the help really says "wal-show".
      short: 'wal-show',
      long: WAL_SHOW_LONG,
      args: NO_ARGS,
      flags: [DETAILED_JSON_FLAG],
      load: () => import('./commands/pgbackrest-wal-show.ts'),
    },
  ],
};

const walFetch: CommandSpec = {
  use: 'wal-fetch wal_name destination_filename',
  short: WAL_FETCH_SHORT,
  args: exactArgs(2),
  flags: [TARGET_STORAGE_FLAG],
  load: () => import('./commands/wal-fetch.ts'),
};

const walPrefetch: CommandSpec = {
  use: 'wal-prefetch wal_name prefetch_location',
  short: 'Used for prefetching process forking\nand should not be called by user.',
  hidden: true,
  args: exactArgs(2),
  flags: [TARGET_STORAGE_FLAG],
  load: () => import('./commands/wal-prefetch.ts'),
};

const walPush: CommandSpec = {
  use: 'wal-push wal_filepath',
  short: 'Uploads a WAL file to storage',
  args: exactArgs(1),
  flags: [TARGET_STORAGE_FLAG],
  load: () => import('./commands/wal-push.ts'),
};

const walReceive: CommandSpec = {
  use: 'wal-receive',
  short: 'Receive WAL stream with postgres Streaming Replication Protocol and push to storage',
  args: exactArgs(0),
  load: () => import('./commands/wal-receive.ts'),
};

const walRestore: CommandSpec = {
  use: 'wal-restore target-pgdata source-pgdata',
  short: 'Restores WAL segments from storage.',
  long: 'Restores the missing WAL segments that will be needed to perform pg_rewind from storage.',
  args: exactArgs(2),
  load: () => import('./commands/wal-restore.ts'),
};

const walShow: CommandSpec = {
  use: 'wal-show',
  short: 'Show storage WAL segments info grouped by timelines.',
  long: WAL_SHOW_LONG,
  args: NO_ARGS,
  flags: [DETAILED_JSON_FLAG, boolFlag('without-backups', 'Disable backups lookup for each timeline.')],
  load: () => import('./commands/wal-show.ts'),
};

const walVerify: CommandSpec = {
  use: 'wal-verify',
  short: 'Verify WAL storage folder. Available checks: integrity, timeline.',
  long: 'Run a set of specified checks to ensure WAL storage health.',
  args: { kind: 'custom', validate: validateWalVerifyArgs },
  flags: [
    boolFlag('json', 'Show output in JSON format.'),
    {
      name: 'timeline',
      type: 'uint32',
      default: 0,
      usage: 'Verify WAL for the specified timeline. Works only in conjunction with the "--lsn" flag.',
    },
    stringFlag('lsn', 'Verify WAL for the specified lsn. Works only in conjunction with the "--timeline" flag.'),
    stringFlag('backup-name', 'Verify WAL starting from the specified backup.'),
  ],
  load: () => import('./commands/wal-verify.ts'),
};

// ---------------------------------------------------------------------------------------------------------
// Commands added by WAL-G's common layer (cmd/common) and by cobra itself

const flagsCommand: CommandSpec = {
  use: 'flags',
  short: 'Display the list of available global flags for all wal-g commands',
  disableFlagsInUseLine: true,
  flagsListing: true,
  annotations: { ownPreRun: true },
  load: () => import('./commands/flags.ts'),
};

const completionCommand: CommandSpec = {
  use: 'completion bash|zsh',
  short: 'Output shell completion code for the specified shell',
  long:
    'Output shell completion code for the specified shell. The shell code must be evaluated\n' +
    'to provide interactive completion of wal-g commands.',
  example:
    '  Bash:\n' +
    "    If bash-completion is not installed on Linux, install the 'bash-completion' package\n" +
    "    via your distribution's package manager. Write bash completion code to .bashrc and then source it:\n" +
    "      echo 'source <(wal-g completion bash)' >>~/.bashrc\n" +
    '      source ~/.bashrc\n' +
    '  Zsh:\n' +
    '    If shell completion is not already enabled in your environment, you will need to enable it.\n' +
    '    You can execute the following once:\n' +
    '      echo "autoload -U compinit; compinit" >> ~/.zshrc\n' +
    '    To load completions for each session, execute once:\n' +
    '      Linux:\n' +
    '        wal-g completion zsh > ${fpath[1]}/_wal-g\n' +
    '      macOS:\n' +
    '        wal-g completion zsh > /usr/local/share/zsh/site-functions/_wal-g\n' +
    '    You will need to start a new shell for this setup to take effect.',
  validArgs: ['bash', 'zsh'],
  args: { kind: 'exactValid', count: 1 },
  annotations: { ownPreRun: true },
  load: () => import('./commands/completion.ts'),
};

const storageTools: CommandSpec = {
  use: 'st',
  short: '(DANGEROUS) Storage tools',
  long:
    'Storage tools allows to interact with the configured storage. ' +
    "Be aware that this command can do potentially harmful operations and make sure that you know what you're doing.",
  persistentFlags: [
    stringFlag('target', 'execute for specific failover storage (Postgres only)', 'default', { shorthand: 't' }),
    boolFlag('glob', 'use a glob pattern for file paths', { shorthand: 'g' }),
  ],
  children: [
    {
      use: 'cat relative_object_path',
      short: 'Cat the specified storage object to STDOUT',
      args: exactArgs(1),
      flags: [boolFlag('decrypt', 'decrypt the object'), boolFlag('decompress', 'decompress the object')],
      load: () => import('./commands/st-cat.ts'),
    },
    {
      use: 'check',
      short: 'check access to the storage',
      children: [
        {
          use: 'read [filename1 filename2 ...]',
          short: 'check read access to the storage',
          args: { kind: 'min', count: 0 },
          load: () => import('./commands/st-check-read.ts'),
        },
        {
          use: 'write',
          short: 'check write access to the storage',
          args: NO_ARGS,
          load: () => import('./commands/st-check-write.ts'),
        },
      ],
    },
    {
      use: 'copy',
      short: 'Copy objects from one storage to another',
      args: exactArgs(0),
      flags: [
        stringFlag('to', 'Storage config to where should copy objects'),
        stringFlag('from', 'Storage config from where should copy objects'),
        stringFlag('prefix', 'Prefix-filter path in `from` storage.', '', { shorthand: 'p' }),
        boolFlag('decrypt-source', 'Decrypt file from source storage', { shorthand: 'd' }),
        boolFlag('encrypt-source', 'Encypt file in target storage', { shorthand: 'e' }),
      ],
      annotations: { ownPreRun: true },
      load: () => import('./commands/st-copy.ts'),
    },
    {
      use: 'ls [relative folder path]',
      short: 'Prints objects in the provided storage folder',
      args: { kind: 'range', min: 0, max: 1 },
      flags: [
        boolFlag('recursive', 'List folder recursively', { shorthand: 'r' }),
        boolFlag('all-versions', 'Show all object versions including deleted (S3 with versioning)'),
      ],
      load: () => import('./commands/st-ls.ts'),
    },
    {
      use: 'get relative_object_path destination_path',
      short: 'Download the specified storage object',
      args: exactArgs(2),
      flags: [boolFlag('no-decrypt', 'Do not decrypt the object'), boolFlag('no-decompress', 'Do not decompress the object')],
      load: () => import('./commands/st-get.ts'),
    },
    {
      use: 'put local_path destination_path',
      short: 'Upload the specified file to the storage',
      args: { kind: 'range', min: 1, max: 2 },
      flags: [
        boolFlag('no-encrypt', 'Do not encrypt the object'),
        boolFlag('no-compress', 'Do not compress the object'),
        boolFlag('force', 'Overwrite the existing object', { shorthand: 'f' }),
        boolFlag('read-stdin', 'Read file content from STDIN', { shorthand: 's' }),
      ],
      load: () => import('./commands/st-put.ts'),
    },
    {
      use: 'rm prefix',
      short: 'Removes objects by the prefix from the specified storage',
      args: exactArgs(1),
      flags: [boolFlag('all-versions', 'Remove all file versions if versioning is enabled in storage')],
      load: () => import('./commands/st-rm.ts'),
    },
    {
      use: 'transfer',
      short: 'Moves objects from one storage to another (Postgres only)',
      long:
        "The command allows to move objects between storages. It's usually used to sync the primary storage with " +
        'a failover, when it becomes alive. By default, objects that exist in both storages are neither overwritten ' +
        'in the target storage nor deleted from the source one. (Postgres only)',
      persistentFlags: [
        stringFlag('source', "storage name to move files from. Use 'default' to select the primary storage", '', {
          shorthand: 's',
        }),
        boolFlag(
          'overwrite',
          'whether to overwrite already existing files in the target storage and remove them from the source one',
          { shorthand: 'o' },
        ),
        boolFlag('preserve', 'whether to preserve files in the source storage and just copy them to the target one', {
          shorthand: 'p',
        }),
        boolFlag(
          'fail-fast',
          'if this flag is set, any error occurred with transferring a separate file will lead the whole command to stop immediately',
        ),
        {
          name: 'concurrency',
          shorthand: 'c',
          type: 'int',
          default: 10,
          usage: 'number of concurrent workers to move files. Value 1 turns concurrency off',
        },
        {
          name: 'max-files',
          shorthand: 'm',
          type: 'uint',
          default: Number(GO_MAX_INT),
          defaultText: GO_MAX_INT,
          usage: 'max number of files to move in this run',
        },
        {
          name: 'appearance-checks',
          type: 'uint',
          default: 3,
          usage:
            'number of times to check if a file is appeared for reading in the target storage after writing it. Value 0 turns checking off',
        },
        {
          name: 'appearance-checks-interval',
          type: 'duration',
          default: 1_000_000_000,
          usage: 'minimum time interval between performing checks for files to appear in the target storage',
        },
      ],
      annotations: { ownPreRun: true },
      preRun: validateTransferFlags,
      children: [
        {
          use: "backups [backup_name] --source='source_storage' [--target='target_storage']",
          short: 'Moves all backups from one storage to another',
          args: { kind: 'range', min: 0, max: 1 },
          flags: [
            {
              name: 'max-backups',
              type: 'uint',
              default: Number(GO_MAX_INT),
              defaultText: GO_MAX_INT,
              usage: 'max number of backups to move in this run. Is ignored if backup_name is specified',
            },
          ],
          load: () => import('./commands/st-transfer-backups.ts'),
        },
        {
          use: "files prefix --source='source_storage' [--target='target_storage']",
          short: 'Moves all files by a prefix from one storage to another without any special treatment',
          args: exactArgs(1),
          load: () => import('./commands/st-transfer-files.ts'),
        },
        {
          use: "pg-wals --source='source_storage' [--target='target_storage']",
          short: 'Moves all PostgreSQL WAL files from one storage to another',
          args: NO_ARGS,
          load: () => import('./commands/st-transfer-pg-wals.ts'),
        },
      ],
    },
  ],
};

/** st transfer's own pre-run (it replaces the root one): flag combinations it cannot work with are fatal. */
function validateTransferFlags(context: CommandContext): void {
  const source = context.flags.source;
  const target = context.flags.target;
  let problem: string | undefined;
  if (source === '') problem = 'source storage must be specified';
  else if (source === 'all') problem = "an explicit source storage must be specified instead of 'all'";
  else if (target === 'all') problem = "an explicit target storage must be specified instead of 'all'";
  else if (source === target) problem = 'source and target storages must be different';
  else if ((context.flags.concurrency as number) < 1) problem = 'concurrency level must be >= 1 (which turns it off)';
  if (problem !== undefined) throw new WalgError(`invalid flags: ${problem}`);
}

const helpCommand: CommandSpec = {
  use: 'help [command]',
  short: 'Help about any command',
  long: 'Help provides help for any command in the application.\nSimply type wal-g help [path to command] for full details.',
  annotations: { ownPreRun: true },
  load: () => import('./commands/help.ts'),
};

const completeRequest: CommandSpec = {
  use: '__complete [command-line]',
  short: 'Request shell completion choices for the specified command-line',
  long:
    '__complete is a special command that is used by the shell completion logic\n' +
    'to request completion choices for the specified command-line.',
  aliases: ['__completeNoDesc'],
  hidden: true,
  disableFlagsInUseLine: true,
  disableFlagParsing: true,
  onlyWhenInvoked: true,
  args: { kind: 'min', count: 1 },
  load: () => import('./commands/complete-request.ts'),
};

/** `wal-g` itself. Its hidden per-setting flags are generated from the settings table (see flag-sets.ts). */
export const ROOT_COMMAND: CommandSpec = {
  use: 'wal-g',
  short: 'PostgreSQL backup tool',
  persistentFlags: [
    stringFlag('config', 'config file (default is $HOME/.walg.json)'),
    boolFlag('turbo', 'Ignore all kinds of throttling defined in config'),
  ],
  // The order WAL-G registers them (Go init order by file name, then cmd/common, then cobra's own).
  children: [
    backupFetch,
    backupList,
    backupMark,
    backupPush,
    catchupFetch,
    catchupList,
    catchupPush,
    catchupReceive,
    catchupSend,
    copy,
    daemon,
    deleteGroup,
    pgbackrestGroup,
    walFetch,
    walPrefetch,
    walPush,
    walReceive,
    walRestore,
    walShow,
    walVerify,
    flagsCommand,
    completionCommand,
    storageTools,
    helpCommand,
    completeRequest,
  ],
};

// ---------------------------------------------------------------------------------------------------------
// The tree with parent links, built on first use

export interface CommandNode {
  readonly spec: CommandSpec;
  readonly parent: CommandNode | undefined;
  readonly children: readonly CommandNode[];
  /** First word of `use`. */
  readonly name: string;
  /** Names below the root, e.g. `['st', 'check', 'read']`; empty for the root. */
  readonly path: readonly string[];
  /** cobra CommandPath: `wal-g st check read`. */
  readonly commandPath: string;
}

let rootNode: CommandNode | undefined;

function buildNode(spec: CommandSpec, parent: CommandNode | undefined): CommandNode {
  const space = spec.use.indexOf(' ');
  const name = space >= 0 ? spec.use.slice(0, space) : spec.use;
  const path = parent === undefined ? [] : [...parent.path, name];
  const node = {
    spec,
    parent,
    children: [] as CommandNode[],
    name,
    path,
    commandPath: parent === undefined ? name : `${parent.commandPath} ${name}`,
  };
  for (const child of spec.children ?? []) node.children.push(buildNode(child, node));
  return node;
}

/** The root of the command tree (about fifty small objects, built once per process). */
export function commandTree(): CommandNode {
  rootNode ??= buildNode(ROOT_COMMAND, undefined);
  return rootNode;
}

/** The node at a path below the root (`['delete', 'retain']`), if there is one. */
export function findNodeByPath(path: readonly string[]): CommandNode | undefined {
  let node: CommandNode | undefined = commandTree();
  for (const name of path) {
    node = node.children.find((child) => child.name === name);
    if (node === undefined) return undefined;
  }
  return node;
}
